package fhirpath

import (
	"encoding/json"
	"math/big"
	"slices"
	"strings"
)

// node is a compiled expression tree node. focus is the input collection; the
// evaluator carries $this, $index, $total and the environment.
type node interface {
	eval(e *evaluator, focus Collection) (Collection, error)
}

type evaluator struct {
	env                             *Env
	model                           *Model
	this                            Collection
	index                           int
	total                           Collection
	context, resource, rootResource Collection
	depth                           int
}

// maxDepth bounds nested evaluation (repeat, recursive descendants) so that
// hostile input fails instead of exhausting the stack.
const maxDepth = 200

type literalNode struct{ item Item }

func (n *literalNode) eval(*evaluator, Collection) (Collection, error) {
	return Collection{n.item}, nil
}

type emptyNode struct{}

func (emptyNode) eval(*evaluator, Collection) (Collection, error) { return nil, nil }

type specialNode struct{ name string }

func (n *specialNode) eval(e *evaluator, _ Collection) (Collection, error) {
	switch n.name {
	case "this":
		return e.this, nil
	case "index":
		return Collection{{Value: int64(e.index)}}, nil
	}
	return e.total, nil
}

type variableNode struct{ name string }

// wellKnown are the constants every FHIR FHIRPath engine defines.
var wellKnown = map[string]string{
	"ucum":  "http://unitsofmeasure.org",
	"sct":   "http://snomed.info/sct",
	"loinc": "http://loinc.org",
}

func (n *variableNode) eval(e *evaluator, _ Collection) (Collection, error) {
	switch n.name {
	case "context":
		return e.context, nil
	case "resource":
		return e.resource, nil
	case "rootResource":
		return e.rootResource, nil
	}
	if v, ok := e.env.Vars[n.name]; ok {
		return e.wrap(v), nil
	}
	if s, ok := wellKnown[n.name]; ok {
		return Collection{{Value: s}}, nil
	}
	if rest, ok := strings.CutPrefix(n.name, "vs-"); ok {
		return Collection{{Value: "http://hl7.org/fhir/ValueSet/" + rest}}, nil
	}
	if rest, ok := strings.CutPrefix(n.name, "ext-"); ok {
		return Collection{{Value: "http://hl7.org/fhir/StructureDefinition/" + rest}}, nil
	}
	return nil, evalErrorf("undefined variable %%%s", n.name)
}

// memberNode navigates to a child element; at the root of a path a name that is
// the type of the focus (Patient.name) selects the focus itself.
type memberNode struct {
	name string
	root bool
}

func (n *memberNode) eval(e *evaluator, focus Collection) (Collection, error) {
	if n.root && n.name != "" && n.name[0] >= 'A' && n.name[0] <= 'Z' {
		var out Collection
		matched := false
		for _, it := range focus {
			if e.isNamedType(it, n.name) {
				out = append(out, it)
				matched = true
			}
		}
		if matched {
			return out, nil
		}
		if e.env.Strict && e.model != nil && e.model.defs.IsResourceType(n.name) {
			return nil, evalErrorf("%s is not the type of the context", n.name)
		}
	}
	var out Collection
	for _, it := range focus {
		var err error
		if out, err = e.child(out, it, n.name); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// isNamedType reports whether it is a resource or node of type name (or derived).
func (e *evaluator) isNamedType(it Item, name string) bool {
	if it.typ != nil {
		return e.model.isType(it.typ, name)
	}
	m, ok := it.Value.(map[string]any)
	return ok && m["resourceType"] == name
}

// child appends the children called name of it to out.
func (e *evaluator) child(out Collection, it Item, name string) (Collection, error) {
	m, ok := it.Value.(map[string]any)
	if !ok {
		// Primitives have id and extension in their "_name" sibling.
		m = it.ext
		if m == nil {
			if e.env.Strict && it.typ == nil && name != "id" && name != "extension" {
				return out, evalErrorf("%s has no element %s", it.TypeName(), name)
			}
			return out, nil
		}
	}
	if it.typ == nil || e.model == nil {
		return e.appendJSON(out, m[name], m["_"+name], nil, true), nil
	}
	cs := e.model.child(it.typ, name)
	if !cs.known && cs.choiceName == "" {
		if e.env.Strict {
			return out, evalErrorf("%s has no element %s", it.typ.name, name)
		}
		return e.appendJSON(out, m[name], m["_"+name], nil, true), nil
	}
	if cs.choiceName != "" {
		return out, evalErrorf("%s has no element %s: choice elements are named without their type (%s)", it.typ.name, name, cs.choiceName)
	}
	for _, c := range cs.entries {
		v, has := m[c.key]
		x := m["_"+c.key]
		if !has && x == nil {
			continue
		}
		out = e.appendJSON(out, v, x, c.typ, c.typ == nil)
	}
	return out, nil
}

// appendJSON appends a JSON property value (an array makes several items) with
// its "_name" sibling. untyped items holding a resourceType are typed by it.
func (e *evaluator) appendJSON(out Collection, v, ext any, t *nodeType, untyped bool) Collection {
	if arr, ok := v.([]any); ok {
		out = slices.Grow(out, len(arr))
		exts, _ := ext.([]any)
		for i, x := range arr {
			var xm map[string]any
			if i < len(exts) {
				xm, _ = exts[i].(map[string]any)
			}
			if x == nil && xm == nil {
				continue
			}
			out = append(out, e.item(x, xm, t, untyped))
		}
		return out
	}
	if exts, ok := ext.([]any); ok && v == nil {
		for _, x := range exts {
			if xm, ok := x.(map[string]any); ok {
				out = append(out, Item{ext: xm, typ: t})
			}
		}
		return out
	}
	xm, _ := ext.(map[string]any)
	if v == nil && xm == nil {
		return out
	}
	return append(out, e.item(v, xm, t, untyped))
}

func (e *evaluator) item(v any, ext map[string]any, t *nodeType, untyped bool) Item {
	if untyped {
		if m, ok := v.(map[string]any); ok {
			return e.resourceItem(m)
		}
	}
	return Item{Value: v, typ: t, ext: ext}
}

// pathNode evaluates right on the result of left.
type pathNode struct{ left, right node }

func (n *pathNode) eval(e *evaluator, focus Collection) (Collection, error) {
	l, err := n.left.eval(e, focus)
	if err != nil {
		return nil, err
	}
	return n.right.eval(e, l)
}

type indexNode struct{ operand, index node }

func (n *indexNode) eval(e *evaluator, focus Collection) (Collection, error) {
	c, err := n.operand.eval(e, focus)
	if err != nil {
		return nil, err
	}
	idx, err := e.evalArg(n.index)
	if err != nil {
		return nil, err
	}
	i, ok, err := singletonInt(idx)
	if err != nil || !ok {
		return nil, err
	}
	if i < 0 || i >= int64(len(c)) {
		return nil, nil
	}
	return Collection{c[i]}, nil
}

// evalArg evaluates a function argument or indexer against $this.
func (e *evaluator) evalArg(n node) (Collection, error) { return n.eval(e, e.this) }

type unaryNode struct {
	neg     bool
	operand node
}

func (n *unaryNode) eval(e *evaluator, focus Collection) (Collection, error) {
	c, err := n.operand.eval(e, focus)
	if err != nil || len(c) == 0 || !n.neg {
		return c, err
	}
	if len(c) > 1 {
		return nil, evalErrorf("unary minus on a collection of %d items", len(c))
	}
	v, ok := negate(toSystem(c[0]))
	if !ok {
		return nil, evalErrorf("cannot negate %s", c[0].TypeName())
	}
	return Collection{{Value: v}}, nil
}

func negate(v any) (any, bool) {
	switch v := v.(type) {
	case int64:
		return -v, true
	case Decimal:
		return Decimal{new(big.Rat).Neg(v.r), v.scale}, true
	case Quantity:
		n, _ := negate(v.Value)
		return Quantity{n.(Decimal), v.Unit}, true
	}
	return nil, false
}

type typeOpNode struct {
	op      string // "is" or "as"
	operand node
	typ     typeSpec
}

func (n *typeOpNode) eval(e *evaluator, focus Collection) (Collection, error) {
	c, err := n.operand.eval(e, focus)
	if err != nil || len(c) == 0 {
		return nil, err
	}
	if len(c) > 1 {
		if n.op == "as" {
			// R4 search parameters apply "as" to repeating elements
			// ((ActivityDefinition.useContext.value as Quantity)); the
			// operator filters them like ofType().
			return fnOfType(e, c, &funcNode{typ: n.typ})
		}
		return nil, evalErrorf("%s needs a single item, got %d", n.op, len(c))
	}
	ok, err := e.hasType(c[0], n.typ, n.op == "as")
	if err != nil {
		return nil, err
	}
	if n.op == "is" {
		return Collection{{Value: ok}}, nil
	}
	if ok {
		return c, nil
	}
	return nil, nil
}

// hasType reports whether it is of type ts. exact (for as and ofType) does not
// let a FHIR primitive match the type it specialises (a code is not "as string").
func (e *evaluator) hasType(it Item, ts typeSpec, exact bool) (bool, error) {
	if it.typ != nil {
		if ts.ns == "System" {
			return false, nil
		}
		if e.model.defs.Type(ts.name) == nil {
			if ts.ns == "" && isSystemType(ts.name) {
				return false, nil
			}
			return false, evalErrorf("unknown type %s", ts)
		}
		if exact && it.typ.primitive {
			return it.typ.name == ts.name, nil
		}
		return e.model.isType(it.typ, ts.name), nil
	}
	if m, ok := it.Value.(map[string]any); ok {
		if ts.ns == "System" {
			return false, nil
		}
		return m["resourceType"] == ts.name, nil
	}
	if ts.ns == "FHIR" {
		return false, nil
	}
	name := systemTypeName(toSystem(it))
	if name == ts.name {
		return true, nil
	}
	if ts.ns == "" && !isSystemType(ts.name) && (e.model == nil || e.model.defs.Type(ts.name) == nil) {
		return false, evalErrorf("unknown type %s", ts)
	}
	return false, nil
}

func isSystemType(name string) bool {
	switch name {
	case "Boolean", "String", "Integer", "Decimal", "Date", "DateTime", "Time", "Quantity", "Any":
		return true
	}
	return false
}

// jsonEqual compares decoded JSON values structurally.
func jsonEqual(a, b any) bool {
	switch a := a.(type) {
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok || len(a) != len(bm) {
			return false
		}
		for k, v := range a {
			w, ok := bm[k]
			if !ok || !jsonEqual(v, w) {
				return false
			}
		}
		return true
	case []any:
		bs, ok := b.([]any)
		if !ok || len(a) != len(bs) {
			return false
		}
		for i := range a {
			if !jsonEqual(a[i], bs[i]) {
				return false
			}
		}
		return true
	case json.Number:
		bn, ok := b.(json.Number)
		return ok && a == bn
	}
	return a == b
}

// singletonInt reads a single Integer argument; ok is false when c is empty.
func singletonInt(c Collection) (int64, bool, error) {
	if len(c) == 0 {
		return 0, false, nil
	}
	if len(c) > 1 {
		return 0, false, evalErrorf("expected a single integer, got %d items", len(c))
	}
	n, ok := toSystem(c[0]).(int64)
	if !ok {
		return 0, false, evalErrorf("expected an integer, got %s", c[0].TypeName())
	}
	return n, true, nil
}
