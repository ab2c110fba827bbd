package builder

// Attestation requests (--sbom, --provenance, --attest), parsed as buildx parses them
// (util/buildflags/attests.go: `--sbom=X` is `--attest type=sbom,X`, a boolean X is disabled=!X)
// and checked as BuildKit's frontend/attestations.Parse and llbsolver's provenance options check them.

import (
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"
)

// Attestations are the attestations a build attaches to its image(s); the zero value attaches none.
type Attestations struct {
	// SBOM, when set, attaches an SPDX document of each platform's final filesystem.
	SBOM *SBOMAttest
	// Provenance, when set, attaches SLSA provenance of the build.
	Provenance *ProvenanceAttest
}

// Any reports whether any attestation is asked for.
func (a Attestations) Any() bool { return a.SBOM != nil || a.Provenance != nil }

// SBOMAttest configures the SBOM: hoist has its own scanner (internal/sbom); BuildKit's generator=
// (a scanner image run in the build) is refused.
type SBOMAttest struct{}

// ProvenanceAttest configures the provenance.
type ProvenanceAttest struct {
	// Mode is "min" (BuildKit's and buildx's default for --provenance: no build args) or "max"
	// (build args and labels, and the Dockerfile).
	Mode string
	// Version is the SLSA provenance version: "v1" (current BuildKit's default) or "v0.2".
	Version string
	// BuilderID is builder.id (builder-id=).
	BuilderID string
	// Reproducible is metadata.reproducible (reproducible=true).
	Reproducible bool
}

// ParseAttestations parses the values of --sbom, --provenance ("" when not given) and --attest (each
// "type=sbom|provenance[,key=value...]"); a later value for a type replaces an earlier one, as in buildx.
func ParseAttestations(sbom, provenance string, attest []string) (Attestations, error) {
	specs := map[string]string{}
	var order []string
	// specs[typ] is "FLAG\x00OPTIONS" of the last value given for typ.
	set := func(typ, flag, opts string) {
		if _, ok := specs[typ]; !ok {
			order = append(order, typ)
		}
		specs[typ] = flag + "\x00" + opts
	}
	for _, a := range attest {
		fields, err := csvFields(a)
		if err != nil {
			return Attestations{}, fmt.Errorf("--attest %q: %w", a, err)
		}
		typ, rest := "", []string{}
		for _, f := range fields {
			if k, v, _ := strings.Cut(f, "="); strings.EqualFold(k, "type") {
				typ = v
				continue
			}
			rest = append(rest, f)
		}
		if typ != "sbom" && typ != "provenance" {
			return Attestations{}, fmt.Errorf("--attest %q: unknown attestation type %q (want type=sbom or type=provenance)", a, typ)
		}
		set(typ, "--attest", strings.Join(rest, ","))
	}
	for _, s := range []struct{ typ, v string }{{"sbom", sbom}, {"provenance", provenance}} {
		if s.v == "" {
			continue
		}
		flag := "--" + s.typ
		if b, err := strconv.ParseBool(s.v); err == nil {
			set(s.typ, flag, "disabled="+strconv.FormatBool(!b))
			continue
		}
		set(s.typ, flag, s.v)
	}
	var out Attestations
	for _, typ := range order {
		flag, rest, _ := strings.Cut(specs[typ], "\x00")
		var err error
		if typ == "sbom" {
			out.SBOM, err = parseSBOMAttest(rest)
		} else {
			out.Provenance, err = parseProvenanceAttest(rest)
		}
		if err != nil {
			return Attestations{}, fmt.Errorf("%s: %w", flag, err)
		}
	}
	return out, nil
}

// attrs parses key=value fields; disabled=true gives nil.
func attrs(spec string) (map[string]string, bool, error) {
	m := map[string]string{}
	if spec == "" {
		return m, false, nil
	}
	fields, err := csvFields(spec)
	if err != nil {
		return nil, false, err
	}
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return nil, false, fmt.Errorf("invalid value %q (want KEY=VALUE, true or false)", f)
		}
		m[strings.ToLower(k)] = v
	}
	if v, ok := m["disabled"]; ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, false, fmt.Errorf("disabled=%q: not a boolean", v)
		}
		delete(m, "disabled")
		return m, b, nil
	}
	return m, false, nil
}

func parseSBOMAttest(spec string) (*SBOMAttest, error) {
	m, disabled, err := attrs(spec)
	if err != nil || disabled {
		return nil, err
	}
	for k, v := range m {
		switch k {
		case "generator":
			return nil, fmt.Errorf("generator=%s: hoist scans with its own reader (dpkg, apk, Go binaries), it does not run SBOM generator images", v)
		default:
			return nil, fmt.Errorf("unknown sbom option %q", k)
		}
	}
	return &SBOMAttest{}, nil
}

func parseProvenanceAttest(spec string) (*ProvenanceAttest, error) {
	m, disabled, err := attrs(spec)
	if err != nil || disabled {
		return nil, err
	}
	p := &ProvenanceAttest{Mode: "min", Version: "v1"}
	for k, v := range m {
		switch k {
		case "mode":
			switch v {
			case "min", "max":
				p.Mode = v
			case "full":
				p.Mode = "max" // BuildKit's alias
			default:
				return nil, fmt.Errorf("invalid mode %q (want min or max)", v)
			}
		case "version":
			if v != "v1" && v != "v0.2" {
				return nil, fmt.Errorf("invalid version %q (want v1 or v0.2)", v)
			}
			p.Version = v
		case "builder-id":
			p.BuilderID = v
		case "reproducible":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("failed to parse reproducible flag %q", v)
			}
			p.Reproducible = b
		default:
			return nil, fmt.Errorf("unknown provenance option %q", k)
		}
	}
	return p, nil
}

func csvFields(s string) ([]string, error) {
	r := csv.NewReader(strings.NewReader(s))
	r.TrimLeadingSpace = true
	fields, err := r.Read()
	if err != nil {
		return nil, err
	}
	return fields, nil
}
