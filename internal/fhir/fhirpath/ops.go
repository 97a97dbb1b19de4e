package fhirpath

import (
	"fmt"
	"math/big"
	"strings"
	"unicode"
)

// binaryNode applies an operator to two operand collections.
type binaryNode struct {
	op          string
	left, right node
	apply       func(e *evaluator, l, r Collection) (Collection, error)
}

// Boolean operators evaluate their right operand only when it decides the result.
func (n *binaryNode) eval(e *evaluator, focus Collection) (Collection, error) {
	l, err := n.left.eval(e, focus)
	if err != nil {
		return nil, err
	}
	if n.op == "and" || n.op == "or" || n.op == "implies" {
		lb, err := toBool3(l)
		if err != nil {
			return nil, err
		}
		if n.op == "and" && lb == bFalse || n.op == "or" && lb == bTrue || n.op == "implies" && lb == bFalse {
			return boolColl(n.op != "and"), nil
		}
	}
	r, err := n.right.eval(e, focus)
	if err != nil {
		return nil, err
	}
	return n.apply(e, l, r)
}

func newBinary(op string, l, r node) (node, error) {
	n := &binaryNode{op: op, left: l, right: r}
	switch op {
	case "and", "or", "xor", "implies":
		n.apply = func(_ *evaluator, l, r Collection) (Collection, error) { return logic(op, l, r) }
	case "=", "!=":
		n.apply = func(_ *evaluator, l, r Collection) (Collection, error) {
			v := collEqual(l, r)
			if v == bEmpty {
				return nil, nil
			}
			return boolColl((v == bTrue) == (op == "=")), nil
		}
	case "~", "!~":
		n.apply = func(_ *evaluator, l, r Collection) (Collection, error) {
			return boolColl(collEquivalent(l, r) == (op == "~")), nil
		}
	case "<", ">", "<=", ">=":
		n.apply = func(_ *evaluator, l, r Collection) (Collection, error) { return compareOp(op, l, r) }
	case "|":
		n.apply = func(_ *evaluator, l, r Collection) (Collection, error) { return union(l, r), nil }
	case "in":
		n.apply = func(_ *evaluator, l, r Collection) (Collection, error) { return membership(l, r) }
	case "contains":
		n.apply = func(_ *evaluator, l, r Collection) (Collection, error) { return membership(r, l) }
	case "&":
		n.apply = func(_ *evaluator, l, r Collection) (Collection, error) {
			ls, err := concatOperand(l)
			if err != nil {
				return nil, err
			}
			rs, err := concatOperand(r)
			if err != nil {
				return nil, err
			}
			return Collection{{Value: ls + rs}}, nil
		}
	case "+", "-", "*", "/", "div", "mod":
		n.apply = func(_ *evaluator, l, r Collection) (Collection, error) { return arithmetic(op, l, r) }
	default:
		return nil, fmt.Errorf("unknown operator %s", op)
	}
	return n, nil
}

// Three-valued booleans.
type bool3 int8

const (
	bEmpty bool3 = iota
	bFalse
	bTrue
)

func boolColl(b bool) Collection { return Collection{{Value: b}} }

// toBool3 applies singleton evaluation: empty is unknown, a single Boolean is
// itself, any other single item is true.
func toBool3(c Collection) (bool3, error) {
	switch len(c) {
	case 0:
		return bEmpty, nil
	case 1:
		if b, ok := toSystem(c[0]).(bool); ok {
			if b {
				return bTrue, nil
			}
			return bFalse, nil
		}
		return bTrue, nil
	}
	return bEmpty, evalErrorf("expected a single boolean, got %d items", len(c))
}

func (b bool3) coll() Collection {
	if b == bEmpty {
		return nil
	}
	return boolColl(b == bTrue)
}

func logic(op string, l, r Collection) (Collection, error) {
	a, err := toBool3(l)
	if err != nil {
		return nil, err
	}
	b, err := toBool3(r)
	if err != nil {
		return nil, err
	}
	switch op {
	case "and":
		switch {
		case a == bFalse || b == bFalse:
			return boolColl(false), nil
		case a == bTrue && b == bTrue:
			return boolColl(true), nil
		}
	case "or":
		switch {
		case a == bTrue || b == bTrue:
			return boolColl(true), nil
		case a == bFalse && b == bFalse:
			return boolColl(false), nil
		}
	case "xor":
		if a != bEmpty && b != bEmpty {
			return boolColl(a != b), nil
		}
	case "implies":
		switch {
		case a == bFalse || b == bTrue:
			return boolColl(true), nil
		case a == bTrue:
			return b.coll(), nil
		}
	}
	return nil, nil
}

// collEqual is the = operator on collections.
func collEqual(l, r Collection) bool3 {
	if len(l) == 0 || len(r) == 0 {
		return bEmpty
	}
	if len(l) != len(r) {
		return bFalse
	}
	res := bTrue
	for i := range l {
		switch itemEqual(l[i], r[i]) {
		case bFalse:
			return bFalse
		case bEmpty:
			res = bEmpty
		}
	}
	return res
}

// itemEqual compares two items by value.
func itemEqual(a, b Item) bool3 {
	x, y := toSystem(a), toSystem(b)
	switch x := x.(type) {
	case map[string]any:
		return b3(jsonEqual(x, y))
	case string:
		s, ok := y.(string)
		return b3(ok && s == x)
	case bool:
		v, ok := y.(bool)
		return b3(ok && v == x)
	case Temporal:
		t, ok := y.(Temporal)
		if !ok {
			return bFalse
		}
		c, ok := compareTemporal(x, t)
		if !ok {
			if (x.Kind == kindTime) != (t.Kind == kindTime) {
				return bFalse
			}
			return bEmpty
		}
		return b3(c == 0)
	case Quantity:
		q, ok := y.(Quantity)
		if !ok {
			return bFalse
		}
		c, ok := compareQuantity(x, q)
		if !ok {
			return bEmpty
		}
		return b3(c == 0)
	}
	if dx, ok := asDecimal(x); ok {
		dy, ok := asDecimal(y)
		return b3(ok && dx.cmp(dy) == 0)
	}
	return bFalse
}

func b3(b bool) bool3 {
	if b {
		return bTrue
	}
	return bFalse
}

// asDecimal widens Integer to Decimal.
func asDecimal(v any) (Decimal, bool) {
	switch v := v.(type) {
	case int64:
		return decimalFromInt(v), true
	case Decimal:
		return v, true
	}
	return Decimal{}, false
}

// collEquivalent is the ~ operator: order does not matter and empty ~ empty.
func collEquivalent(l, r Collection) bool {
	if len(l) != len(r) {
		return false
	}
	used := make([]bool, len(r))
outer:
	for _, a := range l {
		for j, b := range r {
			if !used[j] && itemEquivalent(a, b) {
				used[j] = true
				continue outer
			}
		}
		return false
	}
	return true
}

func itemEquivalent(a, b Item) bool {
	x, y := toSystem(a), toSystem(b)
	switch x := x.(type) {
	case map[string]any:
		m, ok := y.(map[string]any)
		if !ok {
			return false
		}
		return jsonEquivalent(x, m)
	case string:
		s, ok := y.(string)
		return ok && normalizeSpace(x) == normalizeSpace(s)
	case Temporal:
		t, ok := y.(Temporal)
		if !ok {
			return false
		}
		c, ok := compareTemporal(x, t)
		return ok && c == 0
	case Quantity:
		q, ok := y.(Quantity)
		if !ok {
			return false
		}
		qa, ok1 := canonicalQuantity(x)
		qb, ok2 := canonicalQuantity(q)
		if !ok1 || !ok2 || qa.dim != qb.dim {
			return false
		}
		s := min(x.Value.scale, q.Value.scale)
		return roundRat(qa.value, s).Cmp(roundRat(qb.value, s)) == 0
	}
	if dx, ok := asDecimal(x); ok {
		dy, ok := asDecimal(y)
		if !ok {
			return false
		}
		s := min(dx.scale, dy.scale)
		return roundRat(dx.r, s).Cmp(roundRat(dy.r, s)) == 0
	}
	return itemEqual(a, b) == bTrue
}

// jsonEquivalent compares complex values member by member with ~.
func jsonEquivalent(a, b map[string]any) bool {
	for k, v := range a {
		if k == "id" || k == "extension" {
			continue
		}
		w, ok := b[k]
		if !ok {
			return false
		}
		if s, ok := v.(string); ok {
			t, ok := w.(string)
			if !ok || normalizeSpace(s) != normalizeSpace(t) {
				return false
			}
			continue
		}
		if !jsonEqual(v, w) {
			return false
		}
	}
	return true
}

func normalizeSpace(s string) string {
	return strings.ToLower(strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " "))
}

// compareItems orders two items; ok is false when the answer is unknown
// (different date precision), err when they cannot be ordered.
func compareItems(a, b Item) (int, bool, error) {
	x, y := toSystem(a), toSystem(b)
	switch x := x.(type) {
	case string:
		if s, ok := y.(string); ok {
			return strings.Compare(x, s), true, nil
		}
	case Temporal:
		if t, ok := y.(Temporal); ok {
			if (x.Kind == kindTime) != (t.Kind == kindTime) {
				break
			}
			c, ok := compareTemporal(x, t)
			return c, ok, nil
		}
	case Quantity:
		if q, ok := y.(Quantity); ok {
			c, ok := compareQuantity(x, q)
			if !ok {
				return 0, false, evalErrorf("cannot compare %s with %s", x, q)
			}
			return c, true, nil
		}
	default:
		if dx, ok := asDecimal(x); ok {
			if dy, ok := asDecimal(y); ok {
				return dx.cmp(dy), true, nil
			}
		}
	}
	return 0, false, evalErrorf("cannot compare %s with %s", a.TypeName(), b.TypeName())
}

func compareOp(op string, l, r Collection) (Collection, error) {
	if len(l) == 0 || len(r) == 0 {
		return nil, nil
	}
	if len(l) > 1 || len(r) > 1 {
		return nil, evalErrorf("%s needs single items, got %d and %d", op, len(l), len(r))
	}
	c, ok, err := compareItems(l[0], r[0])
	if err != nil || !ok {
		return nil, err
	}
	switch op {
	case "<":
		return boolColl(c < 0), nil
	case ">":
		return boolColl(c > 0), nil
	case "<=":
		return boolColl(c <= 0), nil
	}
	return boolColl(c >= 0), nil
}

// union merges two collections without duplicates.
func union(l, r Collection) Collection {
	out := make(Collection, 0, len(l)+len(r))
	for _, c := range [2]Collection{l, r} {
		for _, it := range c {
			if !containsItem(out, it) {
				out = append(out, it)
			}
		}
	}
	return out
}

func containsItem(c Collection, it Item) bool {
	for _, x := range c {
		if itemEqual(x, it) == bTrue {
			return true
		}
	}
	return false
}

// membership is "l in r".
func membership(l, r Collection) (Collection, error) {
	if len(l) == 0 {
		return nil, nil
	}
	if len(l) > 1 {
		return nil, evalErrorf("membership test needs a single item, got %d", len(l))
	}
	return boolColl(containsItem(r, l[0])), nil
}

func concatOperand(c Collection) (string, error) {
	switch len(c) {
	case 0:
		return "", nil
	case 1:
		if s, ok := toSystem(c[0]).(string); ok {
			return s, nil
		}
		return "", evalErrorf("& needs strings, got %s", c[0].TypeName())
	}
	return "", evalErrorf("& needs single items, got %d", len(c))
}

func arithmetic(op string, l, r Collection) (Collection, error) {
	if len(l) == 0 || len(r) == 0 {
		return nil, nil
	}
	if len(l) > 1 || len(r) > 1 {
		return nil, evalErrorf("%s needs single items, got %d and %d", op, len(l), len(r))
	}
	x, y := toSystem(l[0]), toSystem(r[0])
	v, err := arith(op, x, y)
	if err != nil || v == nil {
		return nil, err
	}
	return Collection{{Value: v}}, nil
}

// arith applies an arithmetic operator to System values; nil means empty.
func arith(op string, x, y any) (any, error) {
	if xs, ok := x.(string); ok && op == "+" {
		if ys, ok := y.(string); ok {
			return xs + ys, nil
		}
	}
	if xi, ok := x.(int64); ok {
		if yi, ok := y.(int64); ok {
			switch op {
			case "+":
				return xi + yi, nil
			case "-":
				return xi - yi, nil
			case "*":
				return xi * yi, nil
			case "div":
				if yi == 0 {
					return nil, nil
				}
				return xi / yi, nil
			case "mod":
				if yi == 0 {
					return nil, nil
				}
				return xi % yi, nil
			}
		}
	}
	if t, ok := x.(Temporal); ok {
		if q, ok := y.(Quantity); ok && (op == "+" || op == "-") {
			if op == "-" {
				n, _ := negate(q)
				q = n.(Quantity)
			}
			return addDuration(t, q)
		}
	}
	if q, ok := x.(Quantity); ok {
		return quantityArith(op, q, y)
	}
	if q, ok := y.(Quantity); ok && op == "*" {
		return quantityArith(op, q, x)
	}
	dx, ok1 := asDecimal(x)
	dy, ok2 := asDecimal(y)
	if !ok1 || !ok2 {
		return nil, evalErrorf("cannot apply %s to %s and %s", op, systemTypeName(x), systemTypeName(y))
	}
	switch op {
	case "+":
		return dx.add(dy), nil
	case "-":
		return dx.sub(dy), nil
	case "*":
		return dx.mul(dy), nil
	case "/":
		d, ok := dx.div(dy)
		if !ok {
			return nil, nil
		}
		return d, nil
	case "div":
		if dy.r.Sign() == 0 {
			return nil, nil
		}
		q := new(big.Rat).Quo(dx.r, dy.r)
		return new(big.Int).Quo(q.Num(), q.Denom()).Int64(), nil
	case "mod":
		if dy.r.Sign() == 0 {
			return nil, nil
		}
		q := new(big.Rat).Quo(dx.r, dy.r)
		t := new(big.Rat).SetInt(new(big.Int).Quo(q.Num(), q.Denom()))
		m := new(big.Rat).Sub(dx.r, t.Mul(t, dy.r))
		return Decimal{m, max(dx.scale, dy.scale)}, nil
	}
	return nil, evalErrorf("cannot apply %s", op)
}
