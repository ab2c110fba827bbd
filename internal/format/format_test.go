package format

import (
	"bytes"
	"testing"
)

type row struct{ ID, Name string }

func TestList(t *testing.T) {
	header := map[string]string{"ID": "CONTAINER ID", "Name": "NAMES"}
	rows := []any{row{"abc", "one"}, row{"d", "two"}}
	for _, tc := range []struct{ format, want string }{
		{"", "CONTAINER ID   NAMES\nabc            one\nd              two\n"},
		{"table {{.Name}}", "NAMES\none\ntwo\n"},
		{"json", `{"ID":"abc","Name":"one"}` + "\n" + `{"ID":"d","Name":"two"}` + "\n"},
		{"{{json .}}", `{"ID":"abc","Name":"one"}` + "\n" + `{"ID":"d","Name":"two"}` + "\n"},
		{`{{.ID}}\t{{upper .Name}}`, "abc\tONE\nd\tTWO\n"},
	} {
		var buf bytes.Buffer
		if err := List(&buf, tc.format, "table {{.ID}}\t{{.Name}}", header, rows); err != nil {
			t.Fatalf("%q: %v", tc.format, err)
		}
		if buf.String() != tc.want {
			t.Errorf("%q: got %q, want %q", tc.format, buf.String(), tc.want)
		}
	}
	if err := List(&bytes.Buffer{}, "{{.ID", "", nil, rows); err == nil {
		t.Error("a broken template must be an error")
	}
}

func TestObjectsKeepsIntegers(t *testing.T) {
	var buf bytes.Buffer
	item := map[string]any{"HostConfig": map[string]int64{"Memory": 104857600}, "F": 0.5}
	if err := Objects(&buf, `{{.HostConfig.Memory}} {{.F}} {{json .HostConfig}}{{"\n"}}`, []any{item}); err != nil {
		t.Fatal(err)
	}
	if want := "104857600 0.5 {\"Memory\":104857600}\n\n"; buf.String() != want {
		t.Errorf("got %q, want %q", buf.String(), want)
	}
}

func TestSizes(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{HumanSize(1985605, 3), "1.99MB"}, {HumanSize(1985605, 4), "1.986MB"}, {HumanSize(0, 3), "0B"},
		{HumanSize(74100000, 3), "74.1MB"}, {BytesSize(1536 * 1024), "1.5MiB"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
