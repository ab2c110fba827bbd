package container

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"

	units "github.com/docker/go-units"

	"github.com/hoistbuild/hoist/internal/atomicfile"
)

// Log drivers hoist has.
const (
	LogJSONFile = "json-file"
	LogNone     = "none"
)

// LogConfig is a container's --log-driver and --log-opt.
type LogConfig struct {
	Driver string `json:"driver"` // LogJSONFile or LogNone
	// MaxSize is the size (bytes) at which the json log is rotated; 0: never.
	MaxSize int64 `json:"maxSize,omitempty"`
	// MaxFile is how many files (the current one included) rotation keeps; < 2: the log is
	// truncated when it rotates, as docker does.
	MaxFile int `json:"maxFile,omitempty"`
	// Opts are the --log-opt values as given (inspect's HostConfig.LogConfig.Config).
	Opts map[string]string `json:"opts,omitempty"`
}

// ErrLogNotReadable is returned by Logs for a container whose log driver keeps nothing.
var ErrLogNotReadable = fmt.Errorf("configured logging driver does not support reading")

// parseLogConfig checks --log-driver and --log-opt with docker 20.10's json-file rules and
// messages: max-size (a size, docker's units), max-file (>= 1), compress=false; the options that
// add attributes to each entry (labels, env, tag, ...) and compress=true are not supported yet,
// every other key is unknown.
func parseLogConfig(driver string, opts []string) (LogConfig, error) {
	lc := LogConfig{Driver: driver, Opts: map[string]string{}}
	switch driver {
	case "", LogJSONFile:
		lc.Driver = LogJSONFile
	case LogNone:
	default:
		return lc, fmt.Errorf("%w: --log-driver %s is not supported: hoist has the json-file and none drivers", ErrBadOption, driver)
	}
	for _, o := range opts {
		k, v, _ := strings.Cut(o, "=")
		lc.Opts[k] = v
	}
	for _, k := range slices.Sorted(maps.Keys(lc.Opts)) {
		v := lc.Opts[k]
		if lc.Driver == LogNone {
			return lc, fmt.Errorf("%w: unknown log opt '%s' for none log driver", ErrBadOption, k)
		}
		var err error
		switch k {
		case "max-size":
			if lc.MaxSize, err = units.RAMInBytes(v); err != nil || lc.MaxSize < 0 {
				return lc, fmt.Errorf("%w: failed to initialize logging driver: invalid size: '%s'", ErrBadOption, v)
			}
		case "max-file":
			if lc.MaxFile, err = strconv.Atoi(v); err != nil {
				return lc, fmt.Errorf("%w: failed to initialize logging driver: invalid max-file: '%s'", ErrBadOption, v)
			}
			if lc.MaxFile < 1 {
				return lc, fmt.Errorf("%w: failed to initialize logging driver: max-file cannot be less than 1", ErrBadOption)
			}
		case "compress":
			if b, err := strconv.ParseBool(v); err != nil || b {
				return lc, fmt.Errorf("%w: --log-opt compress=%s is not supported yet: hoist does not compress rotated logs", ErrBadOption, v)
			}
		case "labels", "labels-regex", "env", "env-regex", "tag":
			return lc, fmt.Errorf("%w: --log-opt %s is not supported yet: hoist's json-file log has no attrs", ErrBadOption, k)
		default:
			return lc, fmt.Errorf("%w: unknown log opt '%s' for json-file log driver", ErrBadOption, k)
		}
	}
	if len(lc.Opts) == 0 {
		lc.Opts = nil
	}
	return lc, nil
}

// rotatedLogs are the rotated files of the log at path that exist, oldest first (path.N ...
// path.1), as docker's json-file driver names them.
func rotatedLogs(path string) []string {
	var out []string
	for i := 1; ; i++ {
		p := path + "." + strconv.Itoa(i)
		if _, err := os.Stat(p); err != nil {
			break
		}
		out = append(out, p)
	}
	slices.Reverse(out)
	return out
}

// rotateLogs shifts path.N-1 → path.N ... path → path.1, keeping maxFile files in all (docker's
// json-file rotate); with maxFile < 2 nothing is kept (the caller truncates path).
func rotateLogs(path string, maxFile int) error {
	if maxFile < 2 {
		return nil
	}
	for i := maxFile - 1; i > 1; i-- {
		from, to := path+"."+strconv.Itoa(i-1), path+"."+strconv.Itoa(i)
		if err := atomicfile.Rename(from, to); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	if err := atomicfile.Rename(path, path+".1"); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}
