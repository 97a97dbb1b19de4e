package fhirpath

import (
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"time"
)

// funcNode is a function invocation. typ is the type argument of is, as and ofType.
type funcNode struct {
	name string
	args []node
	fn   *function
	typ  typeSpec
}

type function struct {
	minArgs, maxArgs int
	impl             func(e *evaluator, focus Collection, n *funcNode) (Collection, error)
}

func (n *funcNode) eval(e *evaluator, focus Collection) (Collection, error) {
	return n.fn.impl(e, focus, n)
}

func newFunction(p *parser, name token, args []node) (node, error) {
	fn, ok := functions[name.text]
	if !ok {
		return nil, p.errorf(name, "unknown function %s()", name.text)
	}
	if len(args) < fn.minArgs || len(args) > fn.maxArgs {
		return nil, p.errorf(name, "%s() takes %d to %d arguments, got %d", name.text, fn.minArgs, fn.maxArgs, len(args))
	}
	n := &funcNode{name: name.text, args: args, fn: fn}
	switch name.text {
	case "is", "as", "ofType":
		ts, ok := typeSpecOf(args[0])
		if !ok {
			return nil, p.errorf(name, "%s() needs a type name", name.text)
		}
		n.typ = ts
	}
	return n, nil
}

// functions is the function table; arities are checked at compile time.
var functions = map[string]*function{
	// existence
	"empty":      {0, 0, func(_ *evaluator, f Collection, _ *funcNode) (Collection, error) { return boolColl(len(f) == 0), nil }},
	"exists":     {0, 1, fnExists},
	"all":        {1, 1, fnAll},
	"allTrue":    {0, 0, boolsAll(true, true)},
	"anyTrue":    {0, 0, boolsAll(true, false)},
	"allFalse":   {0, 0, boolsAll(false, true)},
	"anyFalse":   {0, 0, boolsAll(false, false)},
	"subsetOf":   {1, 1, fnSubset(false)},
	"supersetOf": {1, 1, fnSubset(true)},
	"count": {0, 0, func(_ *evaluator, f Collection, _ *funcNode) (Collection, error) {
		return Collection{{Value: int64(len(f))}}, nil
	}},
	"distinct": {0, 0, func(_ *evaluator, f Collection, _ *funcNode) (Collection, error) { return union(f, nil), nil }},
	"isDistinct": {0, 0, func(_ *evaluator, f Collection, _ *funcNode) (Collection, error) {
		return boolColl(len(union(f, nil)) == len(f)), nil
	}},
	// filtering and projection
	"where":     {1, 1, fnWhere},
	"select":    {1, 1, fnSelect},
	"repeat":    {1, 1, fnRepeat},
	"ofType":    {1, 1, fnOfType},
	"is":        {1, 1, fnIs},
	"as":        {1, 1, fnAs},
	"aggregate": {1, 2, fnAggregate},
	"sort":      {0, 9, fnSort},
	// subsetting
	"single": {0, 0, fnSingle},
	"first":  {0, 0, func(_ *evaluator, f Collection, _ *funcNode) (Collection, error) { return f[:min(1, len(f))], nil }},
	"last":   {0, 0, func(_ *evaluator, f Collection, _ *funcNode) (Collection, error) { return f[max(0, len(f)-1):], nil }},
	"tail":   {0, 0, func(_ *evaluator, f Collection, _ *funcNode) (Collection, error) { return f[min(1, len(f)):], nil }},
	"skip":   {1, 1, fnSkipTake(true)},
	"take":   {1, 1, fnSkipTake(false)},
	"intersect": {1, 1, fnSetOp(func(f, o Collection) Collection {
		var out Collection
		for _, it := range f {
			if containsItem(o, it) && !containsItem(out, it) {
				out = append(out, it)
			}
		}
		return out
	})},
	"exclude": {1, 1, fnSetOp(func(f, o Collection) Collection {
		var out Collection
		for _, it := range f {
			if !containsItem(o, it) {
				out = append(out, it)
			}
		}
		return out
	})},
	"union":   {1, 1, fnSetOp(union)},
	"combine": {1, 1, fnSetOp(func(f, o Collection) Collection { return append(append(Collection{}, f...), o...) })},
	// conversion
	"iif":                {2, 3, fnIif},
	"toBoolean":          {0, 0, convert(toBooleanValue, false)},
	"convertsToBoolean":  {0, 0, convert(toBooleanValue, true)},
	"toInteger":          {0, 0, convert(toIntegerValue, false)},
	"convertsToInteger":  {0, 0, convert(toIntegerValue, true)},
	"toDecimal":          {0, 0, convert(toDecimalValue, false)},
	"convertsToDecimal":  {0, 0, convert(toDecimalValue, true)},
	"toString":           {0, 0, convert(toStringValue, false)},
	"convertsToString":   {0, 0, convert(toStringValue, true)},
	"toDate":             {0, 0, convert(toTemporalValue(kindDate), false)},
	"convertsToDate":     {0, 0, convert(toTemporalValue(kindDate), true)},
	"toDateTime":         {0, 0, convert(toTemporalValue(kindDateTime), false)},
	"convertsToDateTime": {0, 0, convert(toTemporalValue(kindDateTime), true)},
	"toTime":             {0, 0, convert(toTemporalValue(kindTime), false)},
	"convertsToTime":     {0, 0, convert(toTemporalValue(kindTime), true)},
	"toQuantity":         {0, 1, fnToQuantity(false)},
	"convertsToQuantity": {0, 1, fnToQuantity(true)},
	// strings
	"indexOf":        {1, 1, fnIndexOf},
	"substring":      {1, 2, fnSubstring},
	"startsWith":     {1, 1, stringPredicate(strings.HasPrefix)},
	"endsWith":       {1, 1, stringPredicate(strings.HasSuffix)},
	"contains":       {1, 1, stringPredicate(strings.Contains)},
	"upper":          {0, 0, stringMap(strings.ToUpper)},
	"lower":          {0, 0, stringMap(strings.ToLower)},
	"trim":           {0, 0, stringMap(strings.TrimSpace)},
	"replace":        {2, 2, fnReplace},
	"matches":        {1, 1, fnMatches(false)},
	"matchesFull":    {1, 1, fnMatches(true)},
	"replaceMatches": {2, 2, fnReplaceMatches},
	"length":         {0, 0, fnLength},
	"toChars":        {0, 0, fnToChars},
	"split":          {1, 1, fnSplit},
	"join":           {0, 1, fnJoin},
	"encode":         {1, 1, fnCodec(true)},
	"decode":         {1, 1, fnCodec(false)},
	"escape":         {1, 1, fnEscape(true)},
	"unescape":       {1, 1, fnEscape(false)},
	// math
	"abs":      {0, 0, fnAbs},
	"ceiling":  {0, 0, roundingFunc(func(r *big.Rat) *big.Int { return ratCeil(r) })},
	"floor":    {0, 0, roundingFunc(ratFloor)},
	"truncate": {0, 0, roundingFunc(func(r *big.Rat) *big.Int { return new(big.Int).Quo(r.Num(), r.Denom()) })},
	"round":    {0, 1, fnRound},
	"exp":      {0, 0, floatFunc(math.Exp)},
	"ln":       {0, 0, floatFunc(math.Log)},
	"sqrt":     {0, 0, floatFunc(math.Sqrt)},
	"log":      {1, 1, fnLog},
	"power":    {1, 1, fnPower},
	// utility
	"trace":     {1, 2, fnTrace},
	"now":       {0, 0, fnNow(kindDateTime)},
	"today":     {0, 0, fnNow(kindDate)},
	"timeOfDay": {0, 0, fnNow(kindTime)},
	"not":       {0, 0, fnNot},
	// tree navigation
	"children":    {0, 0, fnChildren},
	"descendants": {0, 0, fnDescendants},
	"type":        {0, 0, fnType},
	// FHIR
	"extension":    {1, 1, fnExtension},
	"hasExtension": {1, 1, fnHasExtension},
	"hasValue":     {0, 0, fnHasValue},
	"getValue":     {0, 0, fnGetValue},
	"resolve":      {0, 0, fnResolve},
	"htmlChecks":   {0, 0, func(*evaluator, Collection, *funcNode) (Collection, error) { return boolColl(true), nil }},
	"conformsTo":   {1, 1, fnConformsTo},
	"memberOf":     {1, 1, fnUnsupported},
	"subsumes":     {1, 1, fnUnsupported},
	"subsumedBy":   {1, 1, fnUnsupported},
	"lowBoundary":  {0, 1, fnBoundary(false)},
	"highBoundary": {0, 1, fnBoundary(true)},
	"precision":    {0, 0, fnPrecision},
	"comparable":   {1, 1, fnComparable},
}

type implFunc = func(e *evaluator, focus Collection, n *funcNode) (Collection, error)

// withItem evaluates arg with $this bound to one item and $index to i.
func (e *evaluator) withItem(arg node, it Item, i int) (Collection, error) {
	this, index := e.this, e.index
	e.depth++
	defer func() { e.this, e.index = this, index; e.depth-- }()
	if e.depth > maxDepth {
		return nil, evalErrorf("expression nests too deeply")
	}
	e.this, e.index = Collection{it}, i
	return arg.eval(e, e.this)
}

// criterion evaluates a boolean lambda argument for one item.
func (e *evaluator) criterion(arg node, it Item, i int) (bool3, error) {
	c, err := e.withItem(arg, it, i)
	if err != nil {
		return bEmpty, err
	}
	if len(c) == 1 {
		if _, ok := toSystem(c[0]).(bool); !ok {
			return bEmpty, evalErrorf("criteria must be Boolean, got %s", c[0].TypeName())
		}
	}
	return toBool3(c)
}

func fnExists(e *evaluator, f Collection, n *funcNode) (Collection, error) {
	if len(n.args) == 0 {
		return boolColl(len(f) > 0), nil
	}
	for i, it := range f {
		b, err := e.criterion(n.args[0], it, i)
		if err != nil {
			return nil, err
		}
		if b == bTrue {
			return boolColl(true), nil
		}
	}
	return boolColl(false), nil
}

func fnAll(e *evaluator, f Collection, n *funcNode) (Collection, error) {
	for i, it := range f {
		b, err := e.criterion(n.args[0], it, i)
		if err != nil {
			return nil, err
		}
		if b != bTrue {
			return boolColl(false), nil
		}
	}
	return boolColl(true), nil
}

// boolsAll builds allTrue (want true, all), anyTrue, allFalse and anyFalse.
func boolsAll(want, all bool) implFunc {
	return func(_ *evaluator, f Collection, _ *funcNode) (Collection, error) {
		for _, it := range f {
			b, ok := toSystem(it).(bool)
			if !ok {
				return nil, evalErrorf("expected Booleans, got %s", it.TypeName())
			}
			if all && b != want {
				return boolColl(false), nil
			}
			if !all && b == want {
				return boolColl(true), nil
			}
		}
		return boolColl(all), nil
	}
}

func fnSubset(super bool) implFunc {
	return func(e *evaluator, f Collection, n *funcNode) (Collection, error) {
		o, err := e.evalArg(n.args[0])
		if err != nil {
			return nil, err
		}
		a, b := f, o
		if super {
			a, b = o, f
		}
		for _, it := range a {
			if !containsItem(b, it) {
				return boolColl(false), nil
			}
		}
		return boolColl(true), nil
	}
}

func fnWhere(e *evaluator, f Collection, n *funcNode) (Collection, error) {
	var out Collection
	for i, it := range f {
		b, err := e.criterion(n.args[0], it, i)
		if err != nil {
			return nil, err
		}
		if b == bTrue {
			out = append(out, it)
		}
	}
	return out, nil
}

func fnSelect(e *evaluator, f Collection, n *funcNode) (Collection, error) {
	var out Collection
	for i, it := range f {
		c, err := e.withItem(n.args[0], it, i)
		if err != nil {
			return nil, err
		}
		out = append(out, c...)
	}
	return out, nil
}

func fnRepeat(e *evaluator, f Collection, n *funcNode) (Collection, error) {
	var out Collection
	queue := f
	for len(queue) > 0 {
		var next Collection
		for i, it := range queue {
			c, err := e.withItem(n.args[0], it, i)
			if err != nil {
				return nil, err
			}
			for _, x := range c {
				if !containsItem(out, x) {
					out = append(out, x)
					next = append(next, x)
				}
			}
		}
		queue = next
	}
	return out, nil
}

func fnOfType(e *evaluator, f Collection, n *funcNode) (Collection, error) {
	var out Collection
	for _, it := range f {
		ok, err := e.hasType(it, n.typ, true)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, it)
		}
	}
	if len(f) == 0 && e.model != nil && !isSystemType(n.typ.name) && e.model.defs.Type(n.typ.name) == nil {
		return nil, evalErrorf("unknown type %s", n.typ)
	}
	return out, nil
}

func fnIs(e *evaluator, f Collection, n *funcNode) (Collection, error) {
	return (&typeOpNode{op: "is", operand: emptyNode{}, typ: n.typ}).apply(e, f)
}

func fnAs(e *evaluator, f Collection, n *funcNode) (Collection, error) {
	return (&typeOpNode{op: "as", operand: emptyNode{}, typ: n.typ}).apply(e, f)
}

func fnAggregate(e *evaluator, f Collection, n *funcNode) (Collection, error) {
	var total Collection
	if len(n.args) > 1 {
		var err error
		if total, err = e.evalArg(n.args[1]); err != nil {
			return nil, err
		}
	}
	saved := e.total
	defer func() { e.total = saved }()
	for i, it := range f {
		e.total = total
		c, err := e.withItem(n.args[0], it, i)
		if err != nil {
			return nil, err
		}
		total = c
	}
	return total, nil
}

// fnSort orders by the argument keys; a key written -expr sorts descending.
func fnSort(e *evaluator, f Collection, n *funcNode) (Collection, error) {
	type keyed struct {
		it   Item
		keys []Collection
	}
	rows := make([]keyed, len(f))
	for i, it := range f {
		rows[i].it = it
		for _, a := range n.args {
			if u, ok := a.(*unaryNode); ok && u.neg {
				a = u.operand
			}
			c, err := e.withItem(a, it, i)
			if err != nil {
				return nil, err
			}
			rows[i].keys = append(rows[i].keys, c)
		}
	}
	var sortErr error
	cmp := func(a, b Collection) int {
		if len(a) == 0 || len(b) == 0 {
			return len(b) - len(a) // empty keys sort last
		}
		c, _, err := compareItems(a[0], b[0])
		if err != nil {
			sortErr = err
		}
		return c
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if len(n.args) == 0 {
			return cmp(Collection{rows[i].it}, Collection{rows[j].it}) < 0
		}
		for k, a := range n.args {
			c := cmp(rows[i].keys[k], rows[j].keys[k])
			if u, ok := a.(*unaryNode); ok && u.neg {
				c = -c
			}
			if c != 0 {
				return c < 0
			}
		}
		return false
	})
	if sortErr != nil {
		return nil, sortErr
	}
	out := make(Collection, len(rows))
	for i := range rows {
		out[i] = rows[i].it
	}
	return out, nil
}

func fnSingle(_ *evaluator, f Collection, _ *funcNode) (Collection, error) {
	if len(f) > 1 {
		return nil, evalErrorf("single() on %d items", len(f))
	}
	return f, nil
}

func fnSkipTake(skip bool) implFunc {
	return func(e *evaluator, f Collection, n *funcNode) (Collection, error) {
		c, err := e.evalArg(n.args[0])
		if err != nil {
			return nil, err
		}
		k, ok, err := singletonInt(c)
		if err != nil {
			return nil, err
		}
		k = max(0, min(k, int64(len(f))))
		switch {
		case !ok && skip:
			return f, nil
		case !ok:
			return nil, nil
		case skip:
			return f[k:], nil
		}
		return f[:k], nil
	}
}

func fnSetOp(op func(f, o Collection) Collection) implFunc {
	return func(e *evaluator, f Collection, n *funcNode) (Collection, error) {
		o, err := e.evalArg(n.args[0])
		if err != nil {
			return nil, err
		}
		return op(f, o), nil
	}
}

func fnIif(e *evaluator, f Collection, n *funcNode) (Collection, error) {
	if len(f) > 1 {
		return nil, evalErrorf("iif() on %d items", len(f))
	}
	// Invoked on an item, the arguments see it as $this ($index is kept).
	if len(f) == 1 {
		saved := e.this
		e.this = f
		defer func() { e.this = saved }()
	}
	arg := e.evalArg
	c, err := arg(n.args[0])
	if err != nil {
		return nil, err
	}
	if len(c) == 1 {
		if _, ok := toSystem(c[0]).(bool); !ok {
			return nil, evalErrorf("iif() criterion must be Boolean, got %s", c[0].TypeName())
		}
	}
	b, err := toBool3(c)
	if err != nil {
		return nil, err
	}
	if b == bTrue {
		return arg(n.args[1])
	}
	if len(n.args) > 2 {
		return arg(n.args[2])
	}
	return nil, nil
}

// singleInput returns the one System value of a function's input; ok is false
// for an empty input.
func singleInput(f Collection, fn string) (any, bool, error) {
	switch len(f) {
	case 0:
		return nil, false, nil
	case 1:
		return toSystem(f[0]), true, nil
	}
	return nil, false, evalErrorf("%s() needs a single item, got %d", fn, len(f))
}

// convert builds toX (test false) and convertsToX (test true) from a converter
// that reports whether the value converts.
func convert(conv func(v any) (any, bool), test bool) implFunc {
	return func(_ *evaluator, f Collection, n *funcNode) (Collection, error) {
		v, ok, err := singleInput(f, n.name)
		if err != nil || !ok {
			return nil, err
		}
		r, ok := conv(v)
		return converted(r, ok, test), nil
	}
}

// converted is the result of toX (the value, or empty when it does not convert)
// or of convertsToX (whether it converts).
func converted(r any, ok, test bool) Collection {
	switch {
	case test:
		return boolColl(ok)
	case !ok:
		return nil
	}
	return Collection{{Value: r}}
}

func toBooleanValue(v any) (any, bool) {
	switch v := v.(type) {
	case bool:
		return v, true
	case int64:
		if v == 0 || v == 1 {
			return v == 1, true
		}
	case Decimal:
		if v.r.Cmp(big.NewRat(1, 1)) == 0 {
			return true, true
		}
		if v.r.Sign() == 0 {
			return false, true
		}
	case string:
		switch strings.ToLower(v) {
		case "true", "t", "yes", "y", "1", "1.0":
			return true, true
		case "false", "f", "no", "n", "0", "0.0":
			return false, true
		}
	}
	return nil, false
}

func toIntegerValue(v any) (any, bool) {
	switch v := v.(type) {
	case int64:
		return v, true
	case bool:
		if v {
			return int64(1), true
		}
		return int64(0), true
	case string:
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n, true
		}
	}
	return nil, false
}

func toDecimalValue(v any) (any, bool) {
	switch v := v.(type) {
	case int64:
		return decimalFromInt(v), true
	case Decimal:
		return v, true
	case bool:
		if v {
			return Decimal{big.NewRat(1, 1), 1}, true
		}
		return Decimal{new(big.Rat), 1}, true
	case string:
		if isDecimalText(v) {
			return parseDecimal(v)
		}
	}
	return nil, false
}

// isDecimalText matches (\+|-)?\d+(\.\d+)?.
func isDecimalText(s string) bool {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	i, frac, hasPoint := strings.Cut(s, ".")
	return allDigits(i) && (!hasPoint || allDigits(frac))
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

func toStringValue(v any) (any, bool) { return toString(v) }

func toTemporalValue(kind uint8) func(v any) (any, bool) {
	return func(v any) (any, bool) {
		switch v := v.(type) {
		case string:
			t, ok := parseTemporal(kind, v)
			if !ok {
				return nil, false
			}
			if kind == kindDate && t.Kind != kindDate {
				return nil, false
			}
			if kind == kindDateTime {
				t.Kind = kindDateTime
			}
			return t, true
		case Temporal:
			switch {
			case kind == kindTime || v.Kind == kindTime:
				return v, kind == v.Kind
			case kind == kindDate:
				v.Kind, v.Prec, v.TZ = kindDate, min(v.Prec, precDay), false
				return v, true
			}
			v.Kind = kindDateTime
			return v, true
		}
		return nil, false
	}
}

func fnToQuantity(test bool) implFunc {
	return func(e *evaluator, f Collection, n *funcNode) (Collection, error) {
		v, ok, err := singleInput(f, n.name)
		if err != nil || !ok {
			return nil, err
		}
		q, ok := toQuantityValue(v)
		if ok && len(n.args) > 0 {
			u, err := e.evalArg(n.args[0])
			if err != nil {
				return nil, err
			}
			unit, _ := singleString(u)
			if unit != q.Unit {
				fq, dq, ok1 := unitFactor(q.Unit)
				fu, du, ok2 := unitFactor(unit)
				if ok = ok1 && ok2 && dq == du; ok {
					r := new(big.Rat).Quo(new(big.Rat).Mul(q.Value.r, fq), fu)
					q = Quantity{exactScale(r, 8), unit}
				}
			}
		}
		return converted(q, ok, test), nil
	}
}

func toQuantityValue(v any) (Quantity, bool) {
	switch v := v.(type) {
	case Quantity:
		return v, true
	case int64:
		return Quantity{decimalFromInt(v), "1"}, true
	case Decimal:
		return Quantity{v, "1"}, true
	case bool:
		d, _ := toDecimalValue(v)
		return Quantity{d.(Decimal), "1"}, true
	case string:
		num, unit, _ := strings.Cut(strings.TrimSpace(v), " ")
		if !isDecimalText(num) {
			return Quantity{}, false
		}
		d, _ := parseDecimal(num)
		unit = strings.TrimSpace(unit)
		switch {
		case unit == "":
			return Quantity{d, "1"}, true
		case len(unit) >= 2 && unit[0] == '\'' && unit[len(unit)-1] == '\'':
			return Quantity{d, unit[1 : len(unit)-1]}, true
		case calendarUnits[unit] != "":
			return Quantity{d, calendarUnits[unit]}, true
		}
	}
	return Quantity{}, false
}

// singleString reads a single String; ok is false otherwise.
func singleString(c Collection) (string, bool) {
	if len(c) != 1 {
		return "", false
	}
	s, ok := toSystem(c[0]).(string)
	return s, ok
}

// stringInput reads the single String input of a string function; ok is false
// when the input is empty.
func stringInput(f Collection, fn string) (string, bool, error) {
	v, ok, err := singleInput(f, fn)
	if err != nil || !ok {
		return "", false, err
	}
	s, isStr := v.(string)
	if !isStr {
		return "", false, evalErrorf("%s() needs a String, got %s", fn, f[0].TypeName())
	}
	return s, true, nil
}

// stringArgs reads a string function's input and String arguments; ok is false
// when any of them is empty.
func (e *evaluator) stringArgs(f Collection, n *funcNode) (string, []string, bool, error) {
	s, ok, err := stringInput(f, n.name)
	if err != nil || !ok {
		return "", nil, false, err
	}
	args := make([]string, len(n.args))
	for i, a := range n.args {
		c, err := e.evalArg(a)
		if err != nil {
			return "", nil, false, err
		}
		if len(c) == 0 {
			return "", nil, false, nil
		}
		v, ok := singleString(c)
		if !ok {
			return "", nil, false, evalErrorf("%s() needs String arguments", n.name)
		}
		args[i] = v
	}
	return s, args, true, nil
}

func stringPredicate(pred func(s, arg string) bool) implFunc {
	return func(e *evaluator, f Collection, n *funcNode) (Collection, error) {
		s, args, ok, err := e.stringArgs(f, n)
		if err != nil || !ok {
			return nil, err
		}
		return boolColl(pred(s, args[0])), nil
	}
}

func stringMap(fn func(string) string) implFunc {
	return func(_ *evaluator, f Collection, n *funcNode) (Collection, error) {
		s, ok, err := stringInput(f, n.name)
		if err != nil || !ok {
			return nil, err
		}
		return Collection{{Value: fn(s)}}, nil
	}
}

func fnIndexOf(e *evaluator, f Collection, n *funcNode) (Collection, error) {
	s, args, ok, err := e.stringArgs(f, n)
	if err != nil || !ok {
		return nil, err
	}
	i := strings.Index(s, args[0])
	if i > 0 {
		i = len([]rune(s[:i]))
	}
	return Collection{{Value: int64(i)}}, nil
}

func fnSubstring(e *evaluator, f Collection, n *funcNode) (Collection, error) {
	s, ok, err := stringInput(f, n.name)
	if err != nil || !ok {
		return nil, err
	}
	var idx [2]int64
	for i, a := range n.args {
		c, err := e.evalArg(a)
		if err != nil {
			return nil, err
		}
		v, ok, err := singletonInt(c)
		if err != nil {
			return nil, err
		}
		if !ok {
			if i == 0 {
				return nil, nil
			}
			idx[1] = math.MaxInt32
			continue
		}
		idx[i] = v
	}
	r := []rune(s)
	start := idx[0]
	if start < 0 || start >= int64(len(r)) {
		return nil, nil
	}
	end := int64(len(r))
	if len(n.args) > 1 {
		end = min(end, start+max(idx[1], 0))
	}
	return Collection{{Value: string(r[start:end])}}, nil
}

func fnReplace(e *evaluator, f Collection, n *funcNode) (Collection, error) {
	s, args, ok, err := e.stringArgs(f, n)
	if err != nil || !ok {
		return nil, err
	}
	return Collection{{Value: strings.ReplaceAll(s, args[0], args[1])}}, nil
}

func fnLength(_ *evaluator, f Collection, n *funcNode) (Collection, error) {
	s, ok, err := stringInput(f, n.name)
	if err != nil || !ok {
		return nil, err
	}
	return Collection{{Value: int64(len([]rune(s)))}}, nil
}

func fnToChars(_ *evaluator, f Collection, n *funcNode) (Collection, error) {
	s, ok, err := stringInput(f, n.name)
	if err != nil || !ok {
		return nil, err
	}
	var out Collection
	for _, r := range s {
		out = append(out, Item{Value: string(r)})
	}
	return out, nil
}

func fnSplit(e *evaluator, f Collection, n *funcNode) (Collection, error) {
	s, args, ok, err := e.stringArgs(f, n)
	if err != nil || !ok {
		return nil, err
	}
	var out Collection
	for _, p := range strings.Split(s, args[0]) {
		out = append(out, Item{Value: p})
	}
	return out, nil
}

func fnJoin(e *evaluator, f Collection, n *funcNode) (Collection, error) {
	sep := ""
	if len(n.args) > 0 {
		c, err := e.evalArg(n.args[0])
		if err != nil {
			return nil, err
		}
		sep, _ = singleString(c)
	}
	parts := make([]string, 0, len(f))
	for _, it := range f {
		s, ok := toSystem(it).(string)
		if !ok {
			return nil, evalErrorf("join() needs Strings, got %s", it.TypeName())
		}
		parts = append(parts, s)
	}
	return Collection{{Value: strings.Join(parts, sep)}}, nil
}

func fnTrace(e *evaluator, f Collection, n *funcNode) (Collection, error) {
	c, err := e.evalArg(n.args[0])
	if err != nil {
		return nil, err
	}
	if e.env.Trace != nil {
		name, _ := singleString(c)
		out := f
		if len(n.args) > 1 {
			var proj Collection
			for i, it := range f {
				p, err := e.withItem(n.args[1], it, i)
				if err != nil {
					return nil, err
				}
				proj = append(proj, p...)
			}
			out = proj
		}
		e.env.Trace(name, out)
	}
	return f, nil
}

func fnNow(kind uint8) implFunc {
	return func(e *evaluator, _ Collection, _ *funcNode) (Collection, error) {
		now := e.env.Now
		if now.IsZero() {
			now = time.Now()
		}
		_, off := now.Zone()
		t := Temporal{Kind: kind, Prec: precMilli, TZ: kind == kindDateTime, Offset: off / 60}.fromGoTime(now)
		if kind == kindDate {
			t.Prec = precDay
		}
		return Collection{{Value: t}}, nil
	}
}

func fnNot(_ *evaluator, f Collection, _ *funcNode) (Collection, error) {
	b, err := toBool3(f)
	if err != nil || b == bEmpty {
		return nil, err
	}
	return boolColl(b == bFalse), nil
}

func fnUnsupported(_ *evaluator, _ Collection, n *funcNode) (Collection, error) {
	return nil, evalErrorf("%s() is not supported", n.name)
}
