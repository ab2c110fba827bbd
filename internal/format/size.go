package format

import "fmt"

// HumanSize is docker's decimal size with precision significant digits (go-units
// HumanSizeWithPrecision): "1.99MB" with 3, "1.986MB" with 4.
func HumanSize(n float64, precision int) string {
	units := []string{"B", "kB", "MB", "GB", "TB", "PB"}
	i := 0
	for n >= 1000 && i < len(units)-1 {
		n /= 1000
		i++
	}
	return fmt.Sprintf("%.*g%s", precision, n, units[i])
}

// BytesSize is docker's binary size ("1.5MiB", go-units BytesSize).
func BytesSize(n float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	i := 0
	for n >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	return fmt.Sprintf("%.4g%s", n, units[i])
}

// Ellipsis is docker's truncation of a column: at most n runes, the last one "…" when cut.
func Ellipsis(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	if n <= 1 {
		return string(r[:n])
	}
	return string(r[:n-1]) + "…"
}
