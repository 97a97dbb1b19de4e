package fhirpath

import (
	"fmt"
	"strings"
)

// binding powers of the binary operators, loosest first (FHIRPath §6 precedence).
var binaryPrec = map[string]int{
	"implies": 1,
	"or":      2, "xor": 2,
	"and": 3,
	"in":  4, "contains": 4,
	"=": 5, "~": 5, "!=": 5, "!~": 5,
	"<": 6, ">": 6, "<=": 6, ">=": 6,
	"|":  7,
	"is": 8, "as": 8,
	"+": 9, "-": 9, "&": 9,
	"*": 10, "/": 10, "div": 10, "mod": 10,
}

// calendarUnits maps the calendar duration keywords to their singular form.
var calendarUnits = map[string]string{
	"year": "year", "years": "year", "month": "month", "months": "month",
	"week": "week", "weeks": "week", "day": "day", "days": "day",
	"hour": "hour", "hours": "hour", "minute": "minute", "minutes": "minute",
	"second": "second", "seconds": "second", "millisecond": "millisecond", "milliseconds": "millisecond",
}

type parser struct {
	expr string
	toks []token
	i    int
}

func parse(expr string) (node, error) {
	toks, err := lex(expr)
	if err != nil {
		return nil, err
	}
	p := &parser{expr: expr, toks: toks}
	n, err := p.expression(1)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, p.errorf(t, "unexpected %s", describe(t))
	}
	return n, nil
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token { t := p.toks[p.i]; p.i++; return t }

func (p *parser) errorf(t token, format string, args ...any) error {
	return &SyntaxError{Expr: p.expr, Pos: t.pos, Msg: fmt.Sprintf(format, args...)}
}

func describe(t token) string {
	if t.kind == tokEOF {
		return "end of expression"
	}
	return fmt.Sprintf("%q", t.text)
}

func (p *parser) isOp(text string) bool {
	t := p.peek()
	return t.kind == tokOp && t.text == text
}

func (p *parser) expect(text string) error {
	if !p.isOp(text) {
		return p.errorf(p.peek(), "expected %q, found %s", text, describe(p.peek()))
	}
	p.i++
	return nil
}

// operator returns the binary operator at the current token, if any.
func (p *parser) operator() (string, int) {
	t := p.peek()
	if t.kind == tokOp || t.kind == tokIdent && !t.quoted {
		if prec, ok := binaryPrec[t.text]; ok {
			return t.text, prec
		}
	}
	return "", 0
}

func (p *parser) expression(minPrec int) (node, error) {
	left, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		op, prec := p.operator()
		if prec == 0 || prec < minPrec {
			return left, nil
		}
		opTok := p.next()
		if op == "is" || op == "as" {
			ts, err := p.typeSpecifier()
			if err != nil {
				return nil, err
			}
			left = &typeOpNode{op: op, operand: left, typ: ts}
			continue
		}
		right, err := p.expression(prec + 1)
		if err != nil {
			return nil, err
		}
		left, err = newBinary(op, left, right)
		if err != nil {
			return nil, p.errorf(opTok, "%v", err)
		}
	}
}

func (p *parser) unary() (node, error) {
	if p.isOp("+") || p.isOp("-") {
		neg := p.next().text == "-"
		operand, err := p.unary()
		if err != nil {
			return nil, err
		}
		if !neg {
			return &unaryNode{operand: operand}, nil
		}
		if lit, ok := operand.(*literalNode); ok {
			if v, ok := negate(lit.item.Value); ok {
				return &literalNode{item: Item{Value: v}}, nil
			}
		}
		return &unaryNode{neg: true, operand: operand}, nil
	}
	return p.postfix()
}

func (p *parser) postfix() (node, error) {
	n, err := p.term()
	if err != nil {
		return nil, err
	}
	for {
		switch {
		case p.isOp("."):
			p.i++
			inv, err := p.invocation(false)
			if err != nil {
				return nil, err
			}
			n = &pathNode{left: n, right: inv}
		case p.isOp("["):
			p.i++
			idx, err := p.expression(1)
			if err != nil {
				return nil, err
			}
			if err := p.expect("]"); err != nil {
				return nil, err
			}
			n = &indexNode{operand: n, index: idx}
		default:
			return n, nil
		}
	}
}

func (p *parser) term() (node, error) {
	t := p.peek()
	switch t.kind {
	case tokNumber:
		p.i++
		return p.number(t)
	case tokString:
		p.i++
		return &literalNode{item: Item{Value: t.text}}, nil
	case tokDateTime:
		p.i++
		v, ok := parseTemporal(kindDate, t.text)
		if !ok {
			return nil, p.errorf(t, "invalid date/time @%s", t.text)
		}
		return &literalNode{item: Item{Value: v}}, nil
	case tokTime:
		p.i++
		v, ok := parseTemporal(kindTime, t.text)
		if !ok {
			return nil, p.errorf(t, "invalid time @T%s", t.text)
		}
		return &literalNode{item: Item{Value: v}}, nil
	case tokVariable:
		p.i++
		return &variableNode{name: t.text}, nil
	case tokSpecial:
		p.i++
		return &specialNode{name: t.text}, nil
	case tokIdent:
		if !t.quoted && (t.text == "true" || t.text == "false") {
			p.i++
			return &literalNode{item: Item{Value: t.text == "true"}}, nil
		}
		return p.invocation(true)
	case tokOp:
		switch t.text {
		case "(":
			p.i++
			n, err := p.expression(1)
			if err != nil {
				return nil, err
			}
			return n, p.expect(")")
		case "{":
			p.i++
			return &emptyNode{}, p.expect("}")
		}
	}
	return nil, p.errorf(t, "unexpected %s", describe(t))
}

// number reads an integer, decimal or quantity literal.
func (p *parser) number(t token) (node, error) {
	var v any
	if strings.Contains(t.text, ".") {
		d, _ := parseDecimal(t.text)
		v = d
	} else {
		var n int64
		if _, err := fmt.Sscan(t.text, &n); err != nil {
			return nil, p.errorf(t, "integer %s out of range", t.text)
		}
		v = n
	}
	u := p.peek()
	unit := ""
	switch {
	case u.kind == tokString:
		unit = u.text
	case u.kind == tokIdent && !u.quoted && calendarUnits[u.text] != "":
		unit = calendarUnits[u.text]
	default:
		return &literalNode{item: Item{Value: v}}, nil
	}
	p.i++
	d, ok := v.(Decimal)
	if !ok {
		d = decimalFromInt(v.(int64))
	}
	return &literalNode{item: Item{Value: Quantity{Value: d, Unit: unit}}}, nil
}

// invocation reads a member name or function call; root marks the first
// segment of a path, which may name the type of the context.
func (p *parser) invocation(root bool) (node, error) {
	t := p.next()
	if t.kind != tokIdent {
		return nil, p.errorf(t, "expected a name, found %s", describe(t))
	}
	if !p.isOp("(") || t.quoted {
		return &memberNode{name: t.text, root: root}, nil
	}
	p.i++
	var args []node
	for !p.isOp(")") {
		if len(args) > 0 {
			if err := p.expect(","); err != nil {
				return nil, err
			}
		}
		a, err := p.expression(1)
		if err != nil {
			return nil, err
		}
		args = append(args, a)
	}
	p.i++
	return newFunction(p, t, args)
}

// typeSpecifier reads a type name, optionally qualified (FHIR.Patient, System.String).
func (p *parser) typeSpecifier() (typeSpec, error) {
	t := p.next()
	if t.kind != tokIdent {
		return typeSpec{}, p.errorf(t, "expected a type name, found %s", describe(t))
	}
	if p.isOp(".") && p.toks[p.i+1].kind == tokIdent {
		p.i++
		n := p.next()
		return typeSpec{ns: t.text, name: n.text}, nil
	}
	return typeSpec{name: t.text}, nil
}

// typeSpecOf reads a type specifier given as a function argument (ofType(Quantity)).
func typeSpecOf(n node) (typeSpec, bool) {
	switch n := n.(type) {
	case *memberNode:
		return typeSpec{name: n.name}, true
	case *pathNode:
		l, ok1 := n.left.(*memberNode)
		r, ok2 := n.right.(*memberNode)
		if ok1 && ok2 {
			return typeSpec{ns: l.name, name: r.name}, true
		}
	}
	return typeSpec{}, false
}

// typeSpec names a type; ns is "FHIR", "System" or "" (either).
type typeSpec struct{ ns, name string }

func (t typeSpec) String() string {
	if t.ns == "" {
		return t.name
	}
	return t.ns + "." + t.name
}
