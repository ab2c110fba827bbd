package network

import "testing"

func TestMACFor(t *testing.T) {
	for ip, want := range map[string]string{
		"10.89.0.2":   "02:42:0a:59:00:02",
		"10.89.1.255": "02:42:0a:59:01:ff",
		"172.17.0.2":  "02:42:ac:11:00:02", // what docker gives its first container
		"::1":         "",
		"nonsense":    "",
	} {
		if got := MACFor(ip); got != want {
			t.Errorf("MACFor(%q) = %q, want %q", ip, got, want)
		}
	}
}
