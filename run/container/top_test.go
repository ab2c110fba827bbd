package container

import (
	"reflect"
	"testing"
)

func TestParsePs(t *testing.T) {
	out := "UID          PID    PPID  C STIME TTY          TIME CMD\n" +
		"root           1       0  0 10:00 ?        00:00:01 /sbin/init\n" +
		"root         300     290  2 12:23 ?        00:00:00 sleep 100 now\n"
	res, err := parsePs([]byte(out), []int{300})
	if err != nil {
		t.Fatal(err)
	}
	want := &TopResult{Titles: []string{"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"},
		Processes: [][]string{{"root", "300", "290", "2", "12:23", "?", "00:00:00", "sleep 100 now"}}}
	if !reflect.DeepEqual(res, want) {
		t.Errorf("got %+v, want %+v", res, want)
	}
	if _, err := parsePs([]byte("USER COMMAND\nroot x\n"), nil); err == nil {
		t.Error("ps output without a PID column: no error")
	}
}
