package push

import (
	"reflect"
	"strings"
	"testing"
)

// docker search's filters (docker's registry search: stars is a minimum, the flags exact booleans).
func TestFilterSearch(t *testing.T) {
	all := []SearchResult{{Name: "a"}, {Name: "b", StarCount: 5, IsOfficial: true}, {Name: "c", StarCount: 2, IsAutomated: true}}
	names := func(rs []SearchResult) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Name)
		}
		return out
	}
	for _, c := range []struct {
		filters []string
		want    []string
	}{
		{nil, []string{"a", "b", "c"}},
		{[]string{"stars=0"}, []string{"a", "b", "c"}},
		{[]string{"stars=2"}, []string{"b", "c"}},
		{[]string{"stars=3", "is-official=true"}, []string{"b"}},
		{[]string{"is-official=false"}, []string{"a", "c"}},
		{[]string{"is-automated=true"}, []string{"c"}},
		{[]string{"stars=6"}, nil},
	} {
		got, err := FilterSearch(all, c.filters)
		if err != nil || !reflect.DeepEqual(names(got), c.want) {
			t.Errorf("FilterSearch(%q) = %q, %v; want %q", c.filters, names(got), err, c.want)
		}
	}
	for _, c := range []struct{ filter, want string }{
		{"stars=abc", "invalid filter 'stars=abc'"},
		{"is-official=maybe", "invalid filter 'is-official=maybe'"},
		{"is-automated=1", "invalid filter 'is-automated=1'"},
		{"foo=bar", "invalid filter 'foo'"},
		{"stars", "bad format of filter"},
	} {
		if _, err := FilterSearch(all, []string{c.filter}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("FilterSearch(%q) = %v, want %q", c.filter, err, c.want)
		}
	}
}
