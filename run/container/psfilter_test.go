package container

import (
	"strings"
	"testing"
)

// docker's ps filters publish, expose, volume, network and health, over hand-made containers.
func TestPsFilterKeys(t *testing.T) {
	web := &Container{ID: "aaa", Name: "web", State: State{Status: StatusRunning, Health: &Health{Status: HealthHealthy}},
		Config: Config{Network: "bridge", Exposed: []string{"80/tcp", "53/udp"},
			Ports:  []Port{{HostPort: 8080, ContainerPort: 80, Proto: "tcp"}},
			Mounts: []Mount{{Type: "volume", Source: "data", Destination: "/data"}}}}
	db := &Container{ID: "bbb", Name: "db", State: State{Status: StatusRunning, Health: &Health{Status: HealthStarting}},
		Config: Config{Network: "host", Exposed: []string{"5432/tcp"},
			Mounts: []Mount{{Type: "bind", Source: "/srv/db", Destination: "/var/lib/db"}}}}
	plain := &Container{ID: "ccc", Name: "plain", State: State{Status: StatusRunning}, Config: Config{Network: "none"}}
	sick := &Container{ID: "ddd", Name: "sick", State: State{Status: StatusExited, Health: &Health{Status: HealthUnhealthy}},
		Config: Config{Network: "default"}}
	list := []*Container{web, db, plain, sick}
	tests := []struct {
		filters []string
		all     bool
		want    string
	}{
		{[]string{"publish=80"}, false, "web"},
		{[]string{"publish=80/tcp"}, false, "web"},
		{[]string{"publish=80/udp"}, false, ""},
		{[]string{"publish=79-81"}, false, "web"},
		{[]string{"publish=8080"}, false, ""}, // the container port, not the host's
		{[]string{"expose=53/udp"}, false, "web"},
		{[]string{"expose=53"}, false, ""},
		{[]string{"expose=5000-6000/tcp"}, false, "db"},
		{[]string{"expose=80", "expose=5432"}, false, "web db"},
		{[]string{"volume=data"}, false, "web"},
		{[]string{"volume=/data"}, false, "web"},
		{[]string{"volume=/srv/db"}, false, "db"},
		{[]string{"volume=/var/lib/db"}, false, "db"},
		{[]string{"volume=/srv"}, false, ""},
		{[]string{"network=host"}, false, "db"},
		{[]string{"network=bridge"}, true, "web sick"},
		{[]string{"network=none"}, false, "plain"},
		{[]string{"health=healthy"}, false, "web"},
		{[]string{"health=starting"}, false, "db"},
		{[]string{"health=none"}, false, "plain"},
		{[]string{"health=unhealthy"}, false, ""}, // exited: only with -a
		{[]string{"health=unhealthy"}, true, "sick"},
		{[]string{"health=healthy", "health=none"}, false, "web plain"},
		{[]string{"health=healthy", "network=host"}, false, ""},
	}
	for _, tc := range tests {
		f, err := ParsePsFilter(tc.filters)
		if err != nil {
			t.Fatalf("%v: %v", tc.filters, err)
		}
		f.All = tc.all
		got, err := f.Select(list)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, c := range got {
			names = append(names, c.Name)
		}
		if strings.Join(names, " ") != tc.want {
			t.Errorf("%v (all %v): %v, want %q", tc.filters, tc.all, names, tc.want)
		}
	}
}

// Bad values get docker's messages.
func TestPsFilterBadValues(t *testing.T) {
	for filter, want := range map[string]string{
		"health=bogus":   "Unrecognised filter value for health: bogus",
		"publish=80:80":  "filter for 'publish' should not contain ':': 80:80",
		"expose=x":       "error while looking up for expose x",
		"publish=90-80":  "error while looking up for publish 90-80",
		"expose=70000":   "error while looking up for expose 70000",
		"nosuch=1":       "invalid filter 'nosuch'",
		"exited=running": "invalid filter 'exited=running'",
	} {
		if _, err := ParsePsFilter([]string{filter}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", filter, err, want)
		}
	}
}
