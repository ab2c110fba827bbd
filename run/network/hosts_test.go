package network

import (
	"reflect"
	"testing"
)

// Cases from docker 20.10 on this project's reference host (docker run --add-host ...) and docker's
// opts.ValidateExtraHost: what is accepted, and the address written to /etc/hosts.
func TestParseHost(t *testing.T) {
	for _, c := range []struct {
		in      string
		want    Host
		wantErr string
	}{
		{"foo:1.2.3.4", Host{"foo", "1.2.3.4"}, ""},
		{"bar:::1", Host{"bar", "::1"}, ""}, // docker: "::1\tbar"
		{"v6:[2001:db8::1]", Host{"v6", "2001:db8::1"}, ""},
		{"eq=10.0.0.1", Host{"eq", "10.0.0.1"}, ""}, // docker 23+
		{"gw:host-gateway", Host{"gw", HostGateway}, ""},
		{"foo", Host{}, `bad format for add-host: "foo"`},
		{":1.2.3.4", Host{}, `bad format for add-host: ":1.2.3.4"`},
		{"foo:", Host{}, `bad format for add-host: "foo:"`},
		{"foo:1.2.3", Host{}, `invalid IP address in add-host: "1.2.3"`},
		{"a b:1.2.3.4", Host{}, `bad format for add-host: "a b:1.2.3.4"`},
	} {
		got, err := ParseHost(c.in)
		if c.wantErr != "" {
			if err == nil || err.Error() != c.wantErr {
				t.Errorf("ParseHost(%q) = %v, %v; want error %q", c.in, got, err, c.wantErr)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseHost(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
}

func TestHostLines(t *testing.T) {
	got := HostLines([]Host{{"db", "10.1.2.3"}, {"gw", HostGateway}})
	want := []string{"10.1.2.3\tdb", Gateway + "\tgw"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("HostLines = %q, want %q", got, want)
	}
}
