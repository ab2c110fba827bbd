package cgroups

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// List returns the ids (as given to Create) of the hoist cgroups whose id starts with prefix: on
// cgroup v1 those under this process's own cgroup in any hierarchy hoist uses. It is how a caller
// finds the cgroups a killed process left behind (Create then Destroy removes one).
func List(prefix string) ([]string, error) {
	var parents []string
	if IsV2() {
		parents = []string{filepath.Join(mountRoot, "hoist")}
	} else {
		mounts, err := v1Mounts()
		if err != nil {
			return nil, err
		}
		own, err := ownCgroups()
		if err != nil {
			return nil, err
		}
		for _, c := range v1Controllers {
			if mnt, ok := mounts[c]; ok {
				parents = append(parents, filepath.Join(mnt, own[c], "hoist"))
			}
		}
	}
	var ids []string
	for _, p := range parents {
		entries, err := os.ReadDir(p)
		if err != nil && !os.IsNotExist(err) {
			return nil, err
		}
		for _, e := range entries {
			if e.IsDir() && strings.HasPrefix(e.Name(), prefix) {
				ids = append(ids, e.Name())
			}
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}
