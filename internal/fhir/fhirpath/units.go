package fhirpath

import (
	"math/big"
	"strings"
	"time"
)

// unitDef places a unit in a dimension with its factor to the dimension's base
// unit, as a decimal string so conversions stay exact.
type unitDef struct{ dim, factor string }

// units is the part of UCUM that clinical data commonly uses, plus the FHIRPath
// calendar duration keywords. Calendar years and months are kept apart from UCUM
// 'a' and 'mo' (which are averages) but compare with each other (1 year = 12 months);
// weeks and shorter are exact and equal their UCUM counterparts.
var units = map[string]unitDef{
	"kg": {"g", "1000"}, "g": {"g", "1"}, "mg": {"g", "0.001"}, "ug": {"g", "0.000001"}, "ng": {"g", "0.000000001"},
	"[lb_av]": {"g", "453.59237"}, "[oz_av]": {"g", "28.349523125"},
	"km": {"m", "1000"}, "m": {"m", "1"}, "cm": {"m", "0.01"}, "mm": {"m", "0.001"}, "um": {"m", "0.000001"},
	"[in_i]": {"m", "0.0254"}, "[ft_i]": {"m", "0.3048"},
	"L": {"L", "1"}, "l": {"L", "1"}, "dL": {"L", "0.1"}, "mL": {"L", "0.001"}, "ml": {"L", "0.001"}, "uL": {"L", "0.000001"},
	"s": {"s", "1"}, "ms": {"s", "0.001"}, "min": {"s", "60"}, "h": {"s", "3600"}, "d": {"s", "86400"},
	"wk": {"s", "604800"}, "mo": {"s", "2629800"}, "a": {"s", "31557600"},
	"second": {"s", "1"}, "millisecond": {"s", "0.001"}, "minute": {"s", "60"}, "hour": {"s", "3600"},
	"day": {"s", "86400"}, "week": {"s", "604800"},
	"month": {"cal", "1"}, "year": {"cal", "12"},
	"mol": {"mol", "1"}, "mmol": {"mol", "0.001"}, "umol": {"mol", "0.000001"},
	"mm[Hg]": {"mm[Hg]", "1"}, "kPa": {"mm[Hg]", "7.50061683"},
	"%": {"1", "0.01"}, "1": {"1", "1"},
	"Cel": {"Cel", "1"}, "K": {"K", "1"},
}

func isCalendarUnit(u string) bool {
	switch u {
	case "year", "month", "week", "day", "hour", "minute", "second", "millisecond":
		return true
	}
	return false
}

type canonical struct {
	value *big.Rat
	dim   string
}

// canonicalQuantity converts q to the base unit of its dimension; units of the
// form a/b are handled as a ratio of two known units.
func canonicalQuantity(q Quantity) (canonical, bool) {
	f, dim, ok := unitFactor(q.Unit)
	if !ok {
		return canonical{}, false
	}
	return canonical{new(big.Rat).Mul(q.Value.r, f), dim}, true
}

func unitFactor(unit string) (*big.Rat, string, bool) {
	if u, ok := units[unit]; ok {
		f, _ := new(big.Rat).SetString(u.factor)
		return f, u.dim, true
	}
	num, den, ok := strings.Cut(unit, "/")
	if !ok {
		return nil, "", false
	}
	fn, dn, ok1 := unitFactor(num)
	fd, dd, ok2 := unitFactor(den)
	if !ok1 || !ok2 || strings.Contains(den, "/") {
		return nil, "", false
	}
	return new(big.Rat).Quo(fn, fd), dn + "/" + dd, true
}

// compareQuantity orders quantities of the same dimension.
func compareQuantity(a, b Quantity) (int, bool) {
	if a.Unit == b.Unit {
		return a.Value.cmp(b.Value), true
	}
	ca, ok1 := canonicalQuantity(a)
	cb, ok2 := canonicalQuantity(b)
	if !ok1 || !ok2 || ca.dim != cb.dim {
		return 0, false
	}
	return ca.value.Cmp(cb.value), true
}

// quantityArith applies op to a Quantity and a Quantity or number.
func quantityArith(op string, q Quantity, y any) (any, error) {
	if d, ok := asDecimal(y); ok {
		switch op {
		case "*":
			return Quantity{q.Value.mul(d), q.Unit}, nil
		case "/":
			v, ok := q.Value.div(d)
			if !ok {
				return nil, nil
			}
			return Quantity{v, q.Unit}, nil
		}
		return nil, evalErrorf("cannot apply %s to a quantity and a number", op)
	}
	r, ok := y.(Quantity)
	if !ok {
		return nil, evalErrorf("cannot apply %s to a quantity and %s", op, systemTypeName(y))
	}
	switch op {
	case "+", "-":
		if r.Unit != q.Unit {
			// Express r in q's unit.
			fq, dq, ok1 := unitFactor(q.Unit)
			fr, dr, ok2 := unitFactor(r.Unit)
			if !ok1 || !ok2 || dq != dr {
				return nil, nil
			}
			v := new(big.Rat).Quo(new(big.Rat).Mul(r.Value.r, fr), fq)
			r = Quantity{Decimal{v, r.Value.scale}, q.Unit}
		}
		if op == "+" {
			return Quantity{q.Value.add(r.Value), q.Unit}, nil
		}
		return Quantity{q.Value.sub(r.Value), q.Unit}, nil
	case "*":
		return Quantity{q.Value.mul(r.Value), combineUnits(q.Unit, ".", r.Unit)}, nil
	case "/":
		if q.Unit == r.Unit {
			v, ok := q.Value.div(r.Value)
			if !ok {
				return nil, nil
			}
			return Quantity{v, "1"}, nil
		}
		v, ok := q.Value.div(r.Value)
		if !ok {
			return nil, nil
		}
		return Quantity{v, combineUnits(q.Unit, "/", r.Unit)}, nil
	}
	return nil, evalErrorf("cannot apply %s to quantities", op)
}

func combineUnits(a, op, b string) string {
	if a == "1" {
		if op == "." {
			return b
		}
		return "1/" + b
	}
	if b == "1" {
		return a
	}
	return a + op + b
}

// calendarStep maps duration units to the Temporal precision they step.
var calendarStep = map[string]uint8{
	"year": precYear, "month": precMonth,
	"week": precDay, "wk": precDay, "day": precDay, "d": precDay,
	"hour": precHour, "h": precHour, "minute": precMinute, "min": precMinute,
	"second": precSecond, "s": precSecond, "millisecond": precMilli, "ms": precMilli,
}

// millisPer is the length of one unit of each precision from days down.
var millisPer = [...]int64{precDay: 86400000, precHour: 3600000, precMinute: 60000, precSecond: 1000, precMilli: 1}

// addDuration adds a time-valued quantity to a date, dateTime or time. Units finer
// than the value's precision are converted to it and truncated (@2014 + 24 months
// is @2016).
func addDuration(t Temporal, q Quantity) (any, error) {
	step, ok := calendarStep[q.Unit]
	if !ok {
		return nil, evalErrorf("cannot add %s to a date/time", q)
	}
	if (t.Kind == kindDate && step > precDay) || (t.Kind == kindTime && step < precHour) {
		return nil, evalErrorf("cannot add %s to %s", q, t)
	}
	v := q.Value.r
	if q.Unit == "week" || q.Unit == "wk" {
		v = new(big.Rat).Mul(v, big.NewRat(7, 1))
	}
	if step > t.Prec {
		// Convert to the value's precision.
		f := &millisPer
		if step > precMonth && t.Prec > precMonth {
			v = new(big.Rat).Quo(new(big.Rat).Mul(v, big.NewRat(f[step], 1)), big.NewRat(f[t.Prec], 1))
			step = t.Prec
		} else if step == precMonth && t.Prec == precYear {
			v = new(big.Rat).Quo(v, big.NewRat(12, 1))
			step = precYear
		} else {
			// Days or finer on a year/month value: whole days to months is not
			// defined by UCUM; use 30-day months and 365-day years.
			days := new(big.Rat).Quo(new(big.Rat).Mul(v, big.NewRat(f[step], 1)), big.NewRat(86400000, 1))
			if t.Prec == precMonth {
				v, step = new(big.Rat).Quo(days, big.NewRat(30, 1)), precMonth
			} else {
				v, step = new(big.Rat).Quo(days, big.NewRat(365, 1)), precYear
			}
		}
	}
	n := new(big.Int).Quo(v.Num(), v.Denom()).Int64()
	switch step {
	case precYear, precMonth:
		months := n
		if step == precYear {
			months *= 12
		}
		total := int64(t.Year)*12 + int64(t.Month-1) + months
		t.Year, t.Month = int(total/12), int(total%12)+1
		if d := daysIn(t.Year, t.Month); t.Day > d {
			t.Day = d
		}
		return t, nil
	}
	d := time.Duration(millisPer[step]) * time.Millisecond
	g := t.goTime().Add(time.Duration(n) * d)
	if t.Kind == kindTime {
		g = time.Date(0, 1, 1, t.Hour, t.Minute, t.Sec, t.Milli*1e6, time.UTC).Add(time.Duration(n) * d)
	}
	kind, prec := t.Kind, t.Prec
	t = t.fromGoTime(g)
	t.Kind, t.Prec = kind, prec
	return t, nil
}
