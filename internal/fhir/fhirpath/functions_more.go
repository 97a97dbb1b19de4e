package fhirpath

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"html"
	"math"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

func (n *typeOpNode) apply(e *evaluator, c Collection) (Collection, error) {
	if len(c) == 0 {
		return nil, nil
	}
	if len(c) > 1 {
		return nil, evalErrorf("%s needs a single item, got %d", n.op, len(c))
	}
	ok, err := e.hasType(c[0], n.typ, n.op == "as")
	if err != nil {
		return nil, err
	}
	if n.op == "is" {
		return boolColl(ok), nil
	}
	if ok {
		return c, nil
	}
	return nil, nil
}

// regexpArg compiles a regular expression argument. The (?s) flag makes '.'
// match newlines, as FHIRPath's single-line mode requires.
func (e *evaluator) regexpArg(n node, full bool) (*regexp.Regexp, bool, error) {
	c, err := e.evalArg(n)
	if err != nil || len(c) == 0 {
		return nil, false, err
	}
	s, ok := singleString(c)
	if !ok {
		return nil, false, evalErrorf("a regular expression must be a String")
	}
	if full {
		s = "^(?:" + s + ")$"
	}
	re, err := regexp.Compile("(?s)" + s)
	if err != nil {
		return nil, false, evalErrorf("bad regular expression %q: %v", s, err)
	}
	return re, true, nil
}

// regexpInput is the string input and the regular expression argument of
// matches(), matchesFull() and replaceMatches(); ok false for an empty result.
func (e *evaluator) regexpInput(f Collection, n *funcNode, full bool) (string, *regexp.Regexp, bool, error) {
	s, ok, err := stringInput(f, n.name)
	if err != nil || !ok {
		return "", nil, false, err
	}
	re, ok, err := e.regexpArg(n.args[0], full)
	return s, re, ok, err
}

func fnMatches(full bool) implFunc {
	return func(e *evaluator, f Collection, n *funcNode) (Collection, error) {
		s, re, ok, err := e.regexpInput(f, n, full)
		if err != nil || !ok {
			return nil, err
		}
		return boolColl(re.MatchString(s)), nil
	}
}

func fnReplaceMatches(e *evaluator, f Collection, n *funcNode) (Collection, error) {
	s, re, ok, err := e.regexpInput(f, n, false)
	if err != nil || !ok {
		return nil, err
	}
	if re.String() == "(?s)" {
		return f, nil // an empty pattern would match between every character
	}
	c, err := e.evalArg(n.args[1])
	if err != nil || len(c) == 0 {
		return nil, err
	}
	sub, _ := singleString(c)
	return Collection{{Value: re.ReplaceAllString(s, sub)}}, nil
}

func fnCodec(encode bool) implFunc {
	return func(e *evaluator, f Collection, n *funcNode) (Collection, error) {
		s, args, ok, err := e.stringArgs(f, n)
		if err != nil || !ok {
			return nil, err
		}
		var enc interface {
			EncodeToString([]byte) string
			DecodeString(string) ([]byte, error)
		}
		switch args[0] {
		case "base64":
			enc = base64.StdEncoding
		case "urlbase64":
			enc = base64.URLEncoding
		case "hex":
			if encode {
				return Collection{{Value: hex.EncodeToString([]byte(s))}}, nil
			}
			b, err := hex.DecodeString(s)
			if err != nil {
				return nil, nil
			}
			return Collection{{Value: string(b)}}, nil
		default:
			return nil, evalErrorf("unknown encoding %q", args[0])
		}
		if encode {
			return Collection{{Value: enc.EncodeToString([]byte(s))}}, nil
		}
		b, err := enc.DecodeString(s)
		if err != nil {
			return nil, nil
		}
		return Collection{{Value: string(b)}}, nil
	}
}

func fnEscape(escape bool) implFunc {
	return func(e *evaluator, f Collection, n *funcNode) (Collection, error) {
		s, args, ok, err := e.stringArgs(f, n)
		if err != nil || !ok {
			return nil, err
		}
		switch {
		case args[0] == "html" && escape:
			s = html.EscapeString(s)
			s = strings.NewReplacer("&#34;", "&quot;", "&#39;", "&#39;").Replace(s)
		case args[0] == "html":
			s = html.UnescapeString(s)
		case args[0] == "json" && escape:
			b, _ := json.Marshal(s)
			s = string(b[1 : len(b)-1])
			s = strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(s)
		case args[0] == "json":
			var out string
			if err := json.Unmarshal([]byte(quoteJSON(s)), &out); err != nil {
				return nil, nil
			}
			s = out
		default:
			return nil, evalErrorf("unknown escape target %q", args[0])
		}
		return Collection{{Value: s}}, nil
	}
}

// numberInput reads the single Integer, Decimal or Quantity input of a math function.
func numberInput(f Collection, fn string) (any, bool, error) {
	v, ok, err := singleInput(f, fn)
	if err != nil || !ok {
		return nil, false, err
	}
	switch v.(type) {
	case int64, Decimal, Quantity:
		return v, true, nil
	}
	return nil, false, evalErrorf("%s() needs a number, got %s", fn, f[0].TypeName())
}

func fnAbs(_ *evaluator, f Collection, n *funcNode) (Collection, error) {
	v, ok, err := numberInput(f, n.name)
	if err != nil || !ok {
		return nil, err
	}
	switch x := v.(type) {
	case int64:
		if x < 0 {
			x = -x
		}
		return Collection{{Value: x}}, nil
	case Decimal:
		return Collection{{Value: Decimal{new(big.Rat).Abs(x.r), x.scale}}}, nil
	case Quantity:
		return Collection{{Value: Quantity{Decimal{new(big.Rat).Abs(x.Value.r), x.Value.scale}, x.Unit}}}, nil
	}
	return nil, nil
}

// ratFloor rounds toward negative infinity: a Rat's denominator is positive, and
// Euclidean division by a positive number is floor division.
func ratFloor(r *big.Rat) *big.Int { return new(big.Int).Div(r.Num(), r.Denom()) }

func ratCeil(r *big.Rat) *big.Int {
	return new(big.Int).Neg(ratFloor(new(big.Rat).Neg(r)))
}

// roundingFunc builds ceiling, floor and truncate, which return Integers.
func roundingFunc(fn func(*big.Rat) *big.Int) implFunc {
	return func(_ *evaluator, f Collection, n *funcNode) (Collection, error) {
		v, ok, err := numberInput(f, n.name)
		if err != nil || !ok {
			return nil, err
		}
		d, ok := asDecimal(v)
		if !ok {
			return nil, evalErrorf("%s() needs a number", n.name)
		}
		return Collection{{Value: fn(d.r).Int64()}}, nil
	}
}

func fnRound(e *evaluator, f Collection, n *funcNode) (Collection, error) {
	v, ok, err := numberInput(f, n.name)
	if err != nil || !ok {
		return nil, err
	}
	d, ok := asDecimal(v)
	if !ok {
		return nil, evalErrorf("round() needs a number")
	}
	prec := int64(0)
	if len(n.args) > 0 {
		c, err := e.evalArg(n.args[0])
		if err != nil {
			return nil, err
		}
		if prec, _, err = singletonInt(c); err != nil {
			return nil, err
		}
		if prec < 0 || prec > 28 {
			return nil, evalErrorf("round() precision must be 0 to 28, got %d", prec)
		}
	}
	return Collection{{Value: Decimal{roundRat(d.r, int(prec)), int(prec)}}}, nil
}

// decimalFromFloat converts a float result; NaN and infinities give ok false.
func decimalFromFloat(x float64) (Decimal, bool) {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return Decimal{}, false
	}
	d, ok := parseDecimal(strconv.FormatFloat(x, 'f', -1, 64))
	if ok && d.scale == 0 {
		d.scale = 1
	}
	return d, ok
}

func floatFunc(fn func(float64) float64) implFunc {
	return func(_ *evaluator, f Collection, n *funcNode) (Collection, error) {
		v, ok, err := numberInput(f, n.name)
		if err != nil || !ok {
			return nil, err
		}
		d, ok := asDecimal(v)
		if !ok {
			return nil, evalErrorf("%s() needs a number", n.name)
		}
		r, ok := decimalFromFloat(fn(d.Float()))
		if !ok {
			return nil, nil
		}
		return Collection{{Value: r}}, nil
	}
}

// numberArg reads a single numeric argument.
func (e *evaluator) numberArg(a node) (any, bool, error) {
	c, err := e.evalArg(a)
	if err != nil {
		return nil, false, err
	}
	return numberInput(c, "argument")
}

func fnLog(e *evaluator, f Collection, n *funcNode) (Collection, error) {
	v, ok, err := numberInput(f, n.name)
	if err != nil || !ok {
		return nil, err
	}
	b, ok, err := e.numberArg(n.args[0])
	if err != nil || !ok {
		return nil, err
	}
	x, _ := asDecimal(v)
	base, _ := asDecimal(b)
	r, ok := decimalFromFloat(math.Log(x.Float()) / math.Log(base.Float()))
	if !ok {
		return nil, nil
	}
	return Collection{{Value: r}}, nil
}

func fnPower(e *evaluator, f Collection, n *funcNode) (Collection, error) {
	v, ok, err := numberInput(f, n.name)
	if err != nil || !ok {
		return nil, err
	}
	p, ok, err := e.numberArg(n.args[0])
	if err != nil || !ok {
		return nil, err
	}
	bi, ok1 := v.(int64)
	pi, ok2 := p.(int64)
	if ok1 && ok2 && pi >= 0 && pi <= 64 { // larger powers overflow Integer anyway
		r := new(big.Int).Exp(big.NewInt(bi), big.NewInt(pi), nil)
		if r.IsInt64() {
			return Collection{{Value: r.Int64()}}, nil
		}
	}
	x, _ := asDecimal(v)
	y, _ := asDecimal(p)
	r, ok := decimalFromFloat(math.Pow(x.Float(), y.Float()))
	if !ok {
		return nil, nil
	}
	return Collection{{Value: r}}, nil
}

// childItems returns the element children of a node in definition order (JSON
// key order for untyped nodes).
func (e *evaluator) childItems(out Collection, it Item) Collection {
	m, ok := it.Value.(map[string]any)
	if !ok {
		return out
	}
	if it.typ != nil && e.model != nil {
		prefix := it.typ.path + "."
		for _, el := range it.typ.def.Elements {
			rest, ok := strings.CutPrefix(el.Path, prefix)
			if !ok || strings.Contains(rest, ".") {
				continue
			}
			out, _ = e.child(out, it, strings.TrimSuffix(rest, "[x]"))
		}
		return out
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != "resourceType" && !strings.HasPrefix(k, "_") {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		out = e.appendJSON(out, m[k], m["_"+k], nil, true)
	}
	return out
}

func fnChildren(e *evaluator, f Collection, _ *funcNode) (Collection, error) {
	var out Collection
	for _, it := range f {
		out = e.childItems(out, it)
	}
	return out, nil
}

func fnDescendants(e *evaluator, f Collection, _ *funcNode) (Collection, error) {
	var out Collection
	level := f
	for depth := 0; len(level) > 0; depth++ {
		if depth > maxDepth {
			return nil, evalErrorf("descendants() nests too deeply")
		}
		var next Collection
		for _, it := range level {
			next = e.childItems(next, it)
		}
		out = append(out, next...)
		level = next
	}
	return out, nil
}

// fnType returns TypeInfo objects with namespace and name.
func fnType(_ *evaluator, f Collection, _ *funcNode) (Collection, error) {
	out := make(Collection, 0, len(f))
	for _, it := range f {
		ns, name, _ := strings.Cut(it.TypeName(), ".")
		if m, ok := it.Value.(map[string]any); ok && it.typ == nil {
			if rt, ok := m["resourceType"].(string); ok {
				ns, name = "FHIR", rt
			}
		}
		out = append(out, Item{Value: map[string]any{"namespace": ns, "name": name}})
	}
	return out, nil
}

// fnHasExtension is extension(url).exists(); it is not in FHIRPath but the R4
// search parameter QuestionnaireResponse-item-subject uses it.
func fnHasExtension(e *evaluator, f Collection, n *funcNode) (Collection, error) {
	c, err := fnExtension(e, f, n)
	return boolColl(len(c) > 0), err
}

func fnExtension(e *evaluator, f Collection, n *funcNode) (Collection, error) {
	c, err := e.evalArg(n.args[0])
	if err != nil {
		return nil, err
	}
	url, ok := singleString(c)
	if !ok {
		return nil, nil
	}
	var exts, out Collection
	for _, it := range f {
		if exts, err = e.child(exts[:0], it, "extension"); err != nil {
			return nil, err
		}
		for _, x := range exts {
			if m, ok := x.Value.(map[string]any); ok && m["url"] == url {
				out = append(out, x)
			}
		}
	}
	return out, nil
}

// isPrimitive reports whether an item holds a primitive value.
func isPrimitive(it Item) bool {
	if it.typ != nil {
		return it.typ.primitive && it.Value != nil
	}
	switch it.Value.(type) {
	case nil, map[string]any:
		return false
	}
	return true
}

func fnHasValue(_ *evaluator, f Collection, _ *funcNode) (Collection, error) {
	return boolColl(len(f) == 1 && isPrimitive(f[0])), nil
}

func fnGetValue(_ *evaluator, f Collection, _ *funcNode) (Collection, error) {
	if len(f) != 1 || !isPrimitive(f[0]) {
		return nil, nil
	}
	return Collection{{Value: toSystem(f[0])}}, nil
}

// fnResolve follows references: #id to a contained resource of %resource, then
// entries of a Bundle in %rootResource or %resource (by fullUrl or Type/id), then
// the Env's Resolver.
func fnResolve(e *evaluator, f Collection, _ *funcNode) (Collection, error) {
	var out Collection
	for _, it := range f {
		ref, ok := it.Value.(string)
		if m, isMap := it.Value.(map[string]any); isMap {
			ref, ok = m["reference"].(string)
		}
		if !ok || ref == "" {
			continue
		}
		r, err := e.resolveRef(ref)
		if err != nil {
			return nil, err
		}
		if r != nil {
			out = append(out, e.resourceItem(r))
		}
	}
	return out, nil
}

func (e *evaluator) resolveRef(ref string) (map[string]any, error) {
	if id, ok := strings.CutPrefix(ref, "#"); ok {
		for _, res := range [2]Collection{e.resource, e.rootResource} {
			for _, r := range res {
				m, _ := r.Value.(map[string]any)
				contained, _ := m["contained"].([]any)
				for _, c := range contained {
					if cm, ok := c.(map[string]any); ok && cm["id"] == id {
						return cm, nil
					}
				}
			}
		}
		return nil, nil
	}
	for _, res := range [2]Collection{e.rootResource, e.resource} {
		for _, r := range res {
			m, _ := r.Value.(map[string]any)
			if m["resourceType"] != "Bundle" {
				continue
			}
			entries, _ := m["entry"].([]any)
			for _, x := range entries {
				entry, _ := x.(map[string]any)
				res, _ := entry["resource"].(map[string]any)
				if res == nil {
					continue
				}
				if entry["fullUrl"] == ref || res["resourceType"] != nil && res["id"] != nil &&
					(strings.HasSuffix(ref, "/"+res["resourceType"].(string)+"/"+res["id"].(string)) || ref == res["resourceType"].(string)+"/"+res["id"].(string)) {
					return res, nil
				}
			}
		}
	}
	if e.env.Resolver != nil {
		r, err := e.env.Resolver.Resolve(ref)
		if err != nil {
			return nil, evalErrorf("resolve %s: %v", ref, err)
		}
		return r, nil
	}
	return nil, nil
}

// precisionDigits is the precision() of a date/time precision level.
var precisionDigits = [...]int64{precYear: 4, precMonth: 6, precDay: 8, precHour: 10, precMinute: 12, precSecond: 14, precMilli: 17}

func fnPrecision(_ *evaluator, f Collection, n *funcNode) (Collection, error) {
	v, ok, err := singleInput(f, n.name)
	if err != nil || !ok {
		return nil, err
	}
	switch x := v.(type) {
	case Decimal:
		return Collection{{Value: int64(x.scale)}}, nil
	case int64:
		return Collection{{Value: int64(0)}}, nil
	case Temporal:
		p := precisionDigits[x.Prec]
		if x.Kind == kindTime {
			p -= 8
		}
		return Collection{{Value: p}}, nil
	}
	return nil, evalErrorf("precision() needs a number or date/time, got %s", f[0].TypeName())
}

func fnComparable(e *evaluator, f Collection, n *funcNode) (Collection, error) {
	v, ok, err := singleInput(f, n.name)
	if err != nil || !ok {
		return nil, err
	}
	c, err := e.evalArg(n.args[0])
	if err != nil || len(c) != 1 {
		return nil, err
	}
	q1, ok1 := v.(Quantity)
	q2, ok2 := toSystem(c[0]).(Quantity)
	if !ok1 || !ok2 {
		return nil, evalErrorf("comparable() needs quantities")
	}
	_, ok = compareQuantity(q1, q2)
	return boolColl(ok), nil
}

// fnBoundary builds lowBoundary and highBoundary: the least or greatest value the
// input could be, given its precision, at the requested precision.
func fnBoundary(high bool) implFunc {
	return func(e *evaluator, f Collection, n *funcNode) (Collection, error) {
		v, ok, err := singleInput(f, n.name)
		if err != nil || !ok {
			return nil, err
		}
		prec, hasPrec := int64(-1), false
		if len(n.args) > 0 {
			c, err := e.evalArg(n.args[0])
			if err != nil {
				return nil, err
			}
			if prec, hasPrec, err = singletonInt(c); err != nil {
				return nil, err
			}
		}
		switch x := v.(type) {
		case int64:
			return decimalBoundary(decimalFromInt(x), prec, hasPrec, high), nil
		case Decimal:
			return decimalBoundary(x, prec, hasPrec, high), nil
		case Quantity:
			c := decimalBoundary(x.Value, prec, hasPrec, high)
			if len(c) == 0 {
				return nil, nil
			}
			return Collection{{Value: Quantity{c[0].Value.(Decimal), x.Unit}}}, nil
		case Temporal:
			return temporalBoundary(x, prec, hasPrec, high), nil
		}
		return nil, evalErrorf("%s() needs a number, quantity or date/time", n.name)
	}
}

func decimalBoundary(d Decimal, prec int64, hasPrec, high bool) Collection {
	if !hasPrec {
		prec = 8
	}
	if prec < 0 || prec > 28 {
		return nil
	}
	half := new(big.Rat).SetFrac(big.NewInt(5), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d.scale+1)), nil))
	m := new(big.Int).Exp(big.NewInt(10), big.NewInt(prec), nil)
	var r *big.Rat
	if high {
		r = new(big.Rat).Add(d.r, half)
		r.Mul(r, new(big.Rat).SetInt(m))
		r = new(big.Rat).SetFrac(ratCeil(r), m)
	} else {
		r = new(big.Rat).Sub(d.r, half)
		r.Mul(r, new(big.Rat).SetInt(m))
		r = new(big.Rat).SetFrac(ratFloor(r), m)
	}
	return Collection{{Value: Decimal{r, int(prec)}}}
}

func temporalBoundary(t Temporal, prec int64, hasPrec, high bool) Collection {
	target := precMilli
	if hasPrec {
		if t.Kind == kindTime {
			prec += 8
		}
		i := slices.Index(precisionDigits[:], prec)
		if i < int(precYear) {
			return nil
		}
		target = uint8(i)
	}
	if t.Kind == kindDate && target > precDay {
		target = precDay
	}
	if t.Prec == precHour {
		t.Prec = precMinute // a bare hour is read as hh:00
	}
	if high {
		if t.Prec < precMonth {
			t.Month = 12
		}
		if t.Prec < precDay {
			t.Day = daysIn(t.Year, t.Month)
		}
		if t.Prec < precHour {
			t.Hour = 23
		}
		if t.Prec < precMinute {
			t.Minute = 59
		}
		if t.Prec < precSecond {
			t.Sec = 59
		}
		if t.Prec < precMilli {
			t.Milli = 999
		}
	}
	if t.Kind == kindDateTime && !t.TZ && target >= precHour {
		t.TZ, t.Offset = true, 14*60
		if high {
			t.Offset = -12 * 60
		}
	}
	t.Prec = target
	return Collection{{Value: t}}
}

// quoteJSON makes a JSON string literal of text that may contain JSON escapes
// and bare double quotes.
func quoteJSON(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s):
			b.WriteByte(c)
			i++
			b.WriteByte(s[i])
		case c == '"':
			b.WriteString(`\"`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// fnConformsTo checks conformance to the core StructureDefinition of a type by
// its type alone; profiles (other canonicals) cannot be checked here and are an
// error rather than a guess.
func fnConformsTo(e *evaluator, f Collection, n *funcNode) (Collection, error) {
	c, err := e.evalArg(n.args[0])
	if err != nil || len(f) == 0 {
		return nil, err
	}
	url, ok := singleString(c)
	name, core := strings.CutPrefix(url, "http://hl7.org/fhir/StructureDefinition/")
	if !ok || !core || e.model == nil || e.model.defs.Type(name) == nil {
		return nil, evalErrorf("conformsTo(%q): only core FHIR type definitions can be checked", url)
	}
	var out Collection
	for _, it := range f {
		out = append(out, Item{Value: e.isNamedType(it, name)})
	}
	return out, nil
}
