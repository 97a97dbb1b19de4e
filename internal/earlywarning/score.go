package earlywarning

import (
	"math"
	"slices"
	"time"
)

// Outbreak is a known cluster to score warnings against: its syndrome, the
// townships it struck and its first and last day.
type Outbreak struct {
	ID         string
	Syndrome   Syndrome
	Areas      []string
	Start, End time.Time
}

// Detection is how the warnings met one outbreak.
type Detection struct {
	Outbreak Outbreak
	Detected bool
	Delay    int // days from the outbreak's first day to the warning
	Event    *Event
}

// graceDays: a warning up to this many days after an outbreak's last day
// still detects it (cases are diagnosed and reported after onset).
const graceDays = 3

// Score matches the events to the outbreaks. An event detects an outbreak
// when it is of the outbreak's syndrome and one of its townships and has a
// signal from the outbreak's first day to graceDays after its last; the
// warning's day is the later of the event's start and that signal's day.
// It returns each outbreak's detection and the events that detected none
// (false warnings).
func Score(events []Event, outbreaks []Outbreak) ([]Detection, []Event) {
	dets := make([]Detection, len(outbreaks))
	matched := make([]bool, len(events))
	for i, ob := range outbreaks {
		dets[i].Outbreak = ob
		until := ob.End.AddDate(0, 0, graceDays)
		for j := range events {
			e := &events[j]
			if e.Syndrome != ob.Syndrome || !slices.Contains(ob.Areas, e.Area) {
				continue
			}
			for _, s := range e.Signals {
				if s.Day.Before(ob.Start) || s.Day.After(until) {
					continue
				}
				matched[j] = true
				day := s.Day
				if e.Start.After(day) {
					day = e.Start
				}
				delay := int(math.Round(day.Sub(ob.Start).Hours() / 24))
				if !dets[i].Detected || delay < dets[i].Delay {
					dets[i].Detected, dets[i].Delay, dets[i].Event = true, delay, e
				}
				break
			}
		}
	}
	var unmatched []Event
	for j, e := range events {
		if !matched[j] {
			unmatched = append(unmatched, e)
		}
	}
	return dets, unmatched
}
