package earlywarning

import (
	"cmp"
	"slices"
	"time"
)

// Rule says when signals of one township and syndrome make an
// early-warning event.
type Rule struct {
	Name string
	// MinSources distinct sources must have signalled within WindowDays
	// days (the day of the latest signal and the WindowDays−1 before it).
	MinSources int
	WindowDays int
	// HighAlone: one signal at its source's high threshold is enough.
	HighAlone bool
	// Sources are the sources whose signals count; nil: all.
	Sources []Source
}

// Event is an early warning: the township, the syndrome, the day the rule
// first held and the signals that made it, then those that joined it.
type Event struct {
	Rule     string
	Area     string
	Syndrome Syndrome
	Start    time.Time
	Signals  []Signal
}

// last is the day of the event's latest signal.
func (e *Event) last() time.Time { return e.Signals[len(e.Signals)-1].Day }

// Sources returns the distinct sources of the event's signals.
func (e *Event) Sources() []Source { return distinctSources(e.Signals) }

func distinctSources(sigs []Signal) []Source {
	var out []Source
	for _, s := range sigs {
		if !slices.Contains(out, s.Source) {
			out = append(out, s.Source)
		}
	}
	return out
}

// QuietDays is how long an event stays open without a new signal: later
// signals of its township and syndrome join it rather than raise another
// warning for the same cluster; after that the rule must hold afresh.
const QuietDays = 7

// Fuse applies the rule to the signals (in any order) and returns the
// events by start day, township and syndrome.
func Fuse(signals []Signal, rule Rule) []Event {
	type group struct {
		area string
		syn  Syndrome
	}
	byGroup := map[group][]Signal{}
	for _, s := range signals {
		if rule.Sources == nil || slices.Contains(rule.Sources, s.Source) {
			g := group{s.Area, s.Syndrome}
			byGroup[g] = append(byGroup[g], s)
		}
	}
	var events []Event
	for g, sigs := range byGroup {
		slices.SortStableFunc(sigs, func(a, b Signal) int {
			return cmp.Or(a.Day.Compare(b.Day), cmp.Compare(a.Source, b.Source))
		})
		var open *Event
		for i := 0; i < len(sigs); {
			day := sigs[i].Day
			j := i
			for j < len(sigs) && sigs[j].Day.Equal(day) {
				j++
			}
			today := sigs[i:j]
			if open != nil && day.Sub(open.last()) <= QuietDays*24*time.Hour {
				open.Signals = append(open.Signals, today...)
			} else {
				if open != nil {
					events = append(events, *open)
					open = nil
				}
				if window := windowOf(sigs[:j], day, rule.WindowDays); rule.holds(window, today) {
					open = &Event{Rule: rule.Name, Area: g.area, Syndrome: g.syn, Start: day,
						Signals: slices.Clone(window)}
				}
			}
			i = j
		}
		if open != nil {
			events = append(events, *open)
		}
	}
	slices.SortFunc(events, func(a, b Event) int {
		return cmp.Or(a.Start.Compare(b.Start), cmp.Compare(a.Area, b.Area), cmp.Compare(a.Syndrome, b.Syndrome))
	})
	return events
}

// windowOf returns the signals (in day order, ending with day's) dated
// within the days days ending on day.
func windowOf(sigs []Signal, day time.Time, days int) []Signal {
	from := day.AddDate(0, 0, -max(days, 1)+1)
	i := len(sigs)
	for i > 0 && !sigs[i-1].Day.Before(from) {
		i--
	}
	return sigs[i:]
}

// holds reports whether the rule holds given the window's signals and
// today's.
func (r Rule) holds(window, today []Signal) bool {
	if r.HighAlone && slices.ContainsFunc(today, func(s Signal) bool { return s.High }) {
		return true
	}
	return len(distinctSources(window)) >= max(r.MinSources, 1)
}

// DefaultRules are the rules evaluated in docs/surveillance.md: each source
// alone, any one source, and the multi-source rules of the plans —
// at least two sources within three days, with or without one source at
// its high threshold being enough on its own.
func DefaultRules() []Rule {
	rules := make([]Rule, 0, len(Sources)+3)
	for _, s := range Sources {
		rules = append(rules, Rule{Name: string(s) + " alone", MinSources: 1, WindowDays: 1, Sources: []Source{s}})
	}
	return append(rules,
		Rule{Name: "any one source", MinSources: 1, WindowDays: 1},
		Rule{Name: "≥ 2 sources within 3 days", MinSources: 2, WindowDays: 3},
		Rule{Name: "≥ 2 sources within 3 days, or 1 at the high threshold", MinSources: 2, WindowDays: 3, HighAlone: true},
	)
}
