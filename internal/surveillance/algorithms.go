package surveillance

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Algorithm runs one detection method on a series with its options.
type Algorithm func(s *Series, opts Options) (*Result, error)

// algorithms are the methods Run knows, by the names peer.R gives them.
// Adding one is one line here.
var algorithms = map[string]Algorithm{
	"earsC":              EarsC,
	"cusum":              Cusum,
	"farringtonFlexible": farringtonFlexibleOptions,
	"farrington":         farrington1996Options,
	// CIDARS's method; not in the reference package (docs/surveillance.md).
	"movingPercentile": movingPercentileOptions,
}

// Algorithms returns the names Run accepts, sorted.
func Algorithms() []string {
	return slices.Sorted(maps.Keys(algorithms))
}

// Run runs the algorithm named algo (peer.R's names: earsC, cusum,
// farringtonFlexible, farrington; and movingPercentile) on s.
func Run(algo string, s *Series, opts Options) (*Result, error) {
	f, ok := algorithms[algo]
	if !ok {
		return nil, fmt.Errorf("surveillance: unknown algorithm %q (known: %s)", algo, strings.Join(Algorithms(), ", "))
	}
	if s == nil || s.Len() == 0 {
		return nil, fmt.Errorf("surveillance: %s: empty series", algo)
	}
	if opts == nil {
		opts = Options{}
	}
	return f(s, opts)
}
