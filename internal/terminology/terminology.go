// Package terminology serves code systems, value sets and concept maps: the
// FHIR terminology operations $lookup, $validate-code, $expand and
// $translate, over the tables HIP ships (data/terminology, listed in
// data/SOURCES.md) and the CodeSystem, ValueSet and ConceptMap resources
// clients store. A stored resource of a canonical URL takes precedence over
// a shipped one, so a region can publish a newer version.
package terminology

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/hip-platform/hip/data"
	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/validate"
)

// Finder returns the stored resource of a type (CodeSystem, ValueSet or
// ConceptMap) with a canonical URL, nil when there is none.
type Finder func(ctx context.Context, typ, url string) (fhir.Resource, error)

// Service answers terminology operations. It is safe for concurrent use.
type Service struct {
	shipped map[string]fhir.Resource // "Type|url" → resource
	find    Finder
	cache   checkCache // of CheckCode
}

// New builds a service over the shipped tables and, when find is set, the
// resources clients stored.
func New(find Finder) (*Service, error) {
	shipped, err := Shipped()
	if err != nil {
		return nil, err
	}
	s := &Service{shipped: map[string]fhir.Resource{}, find: find}
	for _, r := range shipped {
		url, _ := r["url"].(string)
		s.shipped[r.Type()+"|"+url] = r
	}
	return s, nil
}

// Shipped reads the tables under data/terminology, one FHIR resource per
// JSON file, in file name order.
func Shipped() ([]fhir.Resource, error) {
	var out []fhir.Resource
	err := fs.WalkDir(data.Terminology, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Ext(p) != ".json" {
			return err
		}
		b, err := fs.ReadFile(data.Terminology, p)
		if err != nil {
			return err
		}
		r, err := fhir.Parse(b)
		if err != nil {
			return fmt.Errorf("terminology: %s: %w", p, err)
		}
		switch r.Type() {
		case "CodeSystem", "ValueSet", "ConceptMap":
		default:
			return fmt.Errorf("terminology: %s is a %s", p, r.Type())
		}
		if u, _ := r["url"].(string); u == "" {
			return fmt.Errorf("terminology: %s has no url", p)
		}
		out = append(out, r)
		return nil
	})
	return out, err
}

// resource finds a terminology resource by canonical URL (a |version
// suffix is ignored): stored first, then shipped.
func (s *Service) resource(ctx context.Context, typ, url string) (fhir.Resource, error) {
	url, _, _ = strings.Cut(url, "|")
	if s.find != nil {
		r, err := s.find(ctx, typ, url)
		if err != nil || r != nil {
			return r, err
		}
	}
	if r, ok := s.shipped[typ+"|"+url]; ok {
		return r, nil
	}
	return nil, nil
}

func (s *Service) mustResource(ctx context.Context, typ, url string) (fhir.Resource, error) {
	if url == "" {
		return nil, fhir.Errorf(fhir.Invalid, "a %s url is required", typ)
	}
	r, err := s.resource(ctx, typ, url)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, fhir.Errorf(fhir.NotFound, "no %s with url %s", typ, url)
	}
	return r, nil
}

// Concept is one concept of a code system.
type Concept struct {
	System       string
	Code         string
	Display      string
	Designations []Designation
	Parent       string // the code of the concept it is nested under
	Children     []string
	Properties   map[string]string
}

// Designation is a concept's name in another language or use.
type Designation struct {
	Language string
	Value    string
}

// codeSystem is a CodeSystem's concepts, indexed.
type codeSystem struct {
	url, name, version string
	caseSensitive      bool
	complete           bool // content "complete": a code not listed is not in the system
	concepts           map[string]*Concept
	order              []string // codes in document order
}

func (s *Service) codeSystem(ctx context.Context, url string) (*codeSystem, error) {
	r, err := s.resource(ctx, "CodeSystem", url)
	if err != nil || r == nil {
		return nil, err
	}
	return parseCodeSystem(r)
}

func parseCodeSystem(r fhir.Resource) (*codeSystem, error) {
	cs := &codeSystem{concepts: map[string]*Concept{}}
	cs.url, _ = r["url"].(string)
	cs.version, _ = r["version"].(string)
	cs.name, _ = r["title"].(string)
	if cs.name == "" {
		cs.name, _ = r["name"].(string)
	}
	cs.caseSensitive, _ = r["caseSensitive"].(bool)
	content, _ := r["content"].(string)
	cs.complete = content == "complete"
	var walk func(list any, parent string, depth int) error
	walk = func(list any, parent string, depth int) error {
		if depth > 64 {
			return fhir.Errorf(fhir.Invalid, "CodeSystem %s: concepts nested deeper than 64", cs.url)
		}
		items, _ := list.([]any)
		for _, x := range items {
			m, _ := x.(map[string]any)
			code, _ := m["code"].(string)
			if code == "" {
				continue
			}
			c := &Concept{System: cs.url, Code: code, Parent: parent, Properties: map[string]string{}}
			c.Display, _ = m["display"].(string)
			ds, _ := m["designation"].([]any)
			for _, d := range ds {
				dm, _ := d.(map[string]any)
				lang, _ := dm["language"].(string)
				val, _ := dm["value"].(string)
				c.Designations = append(c.Designations, Designation{Language: lang, Value: val})
			}
			ps, _ := m["property"].([]any)
			for _, p := range ps {
				pm, _ := p.(map[string]any)
				name, _ := pm["code"].(string)
				for k, v := range pm {
					if strings.HasPrefix(k, "value") {
						c.Properties[name] = fmt.Sprint(v)
					}
				}
			}
			cs.concepts[cs.key(code)] = c
			cs.order = append(cs.order, code)
			if parent != "" {
				p := cs.concepts[cs.key(parent)]
				p.Children = append(p.Children, code)
			}
			if err := walk(m["concept"], code, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return cs, walk(r["concept"], "", 0)
}

// key folds a code as the system compares codes.
func (cs *codeSystem) key(code string) string {
	if cs.caseSensitive {
		return code
	}
	return strings.ToLower(code)
}

func (cs *codeSystem) concept(code string) *Concept { return cs.concepts[cs.key(code)] }

// descendants returns the codes below code, depth first.
func (cs *codeSystem) descendants(code string) []string {
	var out []string
	var walk func(c *Concept)
	walk = func(c *Concept) {
		for _, ch := range c.Children {
			out = append(out, ch)
			walk(cs.concept(ch))
		}
	}
	if c := cs.concept(code); c != nil {
		walk(c)
	}
	return out
}

// LookupResult is what $lookup tells of a code.
type LookupResult struct {
	Name    string // the code system's title or name
	Version string
	Concept *Concept
}

// Lookup finds a code in a code system.
func (s *Service) Lookup(ctx context.Context, system, code string) (*LookupResult, error) {
	if system == "" || code == "" {
		return nil, fhir.Errorf(fhir.Invalid, "$lookup needs system and code")
	}
	cs, err := s.codeSystem(ctx, system)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return nil, fhir.Errorf(fhir.NotFound, "the code system %s is not known here", system)
	}
	c := cs.concept(code)
	if c == nil {
		return nil, fhir.Errorf(fhir.NotFound, "code %q is not in %s", code, system)
	}
	return &LookupResult{Name: cs.name, Version: cs.version, Concept: c}, nil
}

// Validation is the answer of $validate-code.
type Validation struct {
	Result  bool
	Message string // why not, or a note about the display
	Display string // the code's display, when known
}

// ValidateCode checks a code against a value set (url) or, with no value
// set, against its code system. A display that differs from the code's is
// reported in Message without failing the check (HL7: a wrong display is
// a warning).
func (s *Service) ValidateCode(ctx context.Context, valueSet, system, code, display string) (*Validation, error) {
	if code == "" {
		return nil, fhir.Errorf(fhir.Invalid, "$validate-code needs a code")
	}
	v := &Validation{}
	if valueSet == "" {
		if system == "" {
			return nil, fhir.Errorf(fhir.Invalid, "$validate-code needs a value set url or a system")
		}
		cs, err := s.codeSystem(ctx, system)
		if err != nil {
			return nil, err
		}
		if cs == nil {
			v.Message = fmt.Sprintf("代码系统未知 the code system %s is not known here", system)
			return v, nil
		}
		c := cs.concept(code)
		if c == nil {
			v.Message = fmt.Sprintf("代码不存在 code %q is not in %s", code, system)
			return v, nil
		}
		v.Result, v.Display = true, c.Display
	} else {
		status, msg, err := s.CheckCode(ctx, valueSet, system, code)
		if err != nil {
			return nil, err
		}
		if status != validate.CodeValid {
			v.Message = msg
			return v, nil
		}
		v.Result = true
		if system != "" && system != SystemUCUM {
			if cs, err := s.cachedCodeSystem(ctx, system); err == nil && cs != nil {
				if c := cs.concept(code); c != nil {
					v.Display = c.Display
				}
			}
		}
	}
	if display != "" && v.Display != "" && display != v.Display {
		v.Message = fmt.Sprintf("显示名称不符 the display %q differs from %q", display, v.Display)
	}
	return v, nil
}

func inSystem(system string) string {
	if system == "" {
		return ""
	}
	return " (" + system + ")"
}

// Coding is one code of an expansion.
type Coding struct {
	System  string
	Code    string
	Display string
}

// Expansion is a page of a value set's codes.
type Expansion struct {
	URL      string
	Name     string
	Total    int
	Offset   int
	Contains []Coding
}

// MaxExpansion bounds the codes of one expansion.
const MaxExpansion = 100_000

// Expand expands a value set: codes whose display or code contains filter
// (case-insensitive; every word of it), from offset, at most count (all
// when count ≤ 0).
func (s *Service) Expand(ctx context.Context, valueSet, filter string, offset, count int) (*Expansion, error) {
	vs, err := s.mustResource(ctx, "ValueSet", valueSet)
	if err != nil {
		return nil, err
	}
	all, err := s.expand(ctx, vs, map[string]bool{})
	if err != nil {
		return nil, err
	}
	if filter != "" {
		words := strings.Fields(strings.ToLower(filter))
		kept := all[:0:0]
		for _, c := range all {
			text := strings.ToLower(c.Code + " " + c.Display)
			ok := true
			for _, w := range words {
				ok = ok && strings.Contains(text, w)
			}
			if ok {
				kept = append(kept, c)
			}
		}
		all = kept
	}
	exp := &Expansion{URL: valueSet, Total: len(all), Offset: offset}
	exp.Name, _ = vs["name"].(string)
	if offset < 0 {
		return nil, fhir.Errorf(fhir.Invalid, "offset must not be negative")
	}
	if offset < len(all) {
		end := len(all)
		if count > 0 {
			end = min(end, offset+count)
		}
		exp.Contains = all[offset:end]
	}
	return exp, nil
}

// expand computes a value set's codes from its compose (or its stored
// expansion when it has no compose), in the order they are defined.
func (s *Service) expand(ctx context.Context, vs fhir.Resource, visiting map[string]bool) ([]Coding, error) {
	url, _ := vs["url"].(string)
	if visiting[url] {
		return nil, fhir.Errorf(fhir.Invalid, "value set %s includes itself", url)
	}
	visiting[url] = true
	defer delete(visiting, url)
	compose, _ := vs["compose"].(map[string]any)
	if compose == nil {
		exp, _ := vs["expansion"].(map[string]any)
		return containsOf(exp["contains"]), nil
	}
	var out []Coding
	seen := map[[2]string]bool{}
	includes, _ := compose["include"].([]any)
	for _, inc := range includes {
		codes, err := s.component(ctx, inc, visiting)
		if err != nil {
			return nil, err
		}
		for _, c := range codes {
			if k := [2]string{c.System, c.Code}; !seen[k] {
				seen[k] = true
				out = append(out, c)
			}
		}
		if len(out) > MaxExpansion {
			return nil, fhir.Errorf(fhir.TooLarge, "value set %s has more than %d codes", url, MaxExpansion)
		}
	}
	excludes, _ := compose["exclude"].([]any)
	for _, exc := range excludes {
		codes, err := s.component(ctx, exc, visiting)
		if err != nil {
			return nil, err
		}
		drop := map[[2]string]bool{}
		for _, c := range codes {
			drop[[2]string{c.System, c.Code}] = true
		}
		kept := out[:0]
		for _, c := range out {
			if !drop[[2]string{c.System, c.Code}] {
				kept = append(kept, c)
			}
		}
		out = kept
	}
	return out, nil
}

func containsOf(v any) []Coding {
	var out []Coding
	items, _ := v.([]any)
	for _, x := range items {
		m, _ := x.(map[string]any)
		c := Coding{}
		c.System, _ = m["system"].(string)
		c.Code, _ = m["code"].(string)
		c.Display, _ = m["display"].(string)
		if c.Code != "" {
			out = append(out, c)
		}
		out = append(out, containsOf(m["contains"])...)
	}
	return out
}

// component evaluates one include or exclude: its system's codes (all,
// listed, or filtered), intersected with the value sets it names.
func (s *Service) component(ctx context.Context, v any, visiting map[string]bool) ([]Coding, error) {
	inc, _ := v.(map[string]any)
	system, _ := inc["system"].(string)
	var codes []Coding
	if system == SystemUCUM {
		return nil, fhir.Errorf(fhir.NotSupported, "UCUM is a grammar: its codes cannot be listed, $validate-code checks one")
	}
	if system != "" {
		cs, err := s.codeSystem(ctx, system)
		if err != nil {
			return nil, err
		}
		listed, _ := inc["concept"].([]any)
		filters, _ := inc["filter"].([]any)
		switch {
		case len(listed) > 0:
			for _, x := range listed {
				m, _ := x.(map[string]any)
				code, _ := m["code"].(string)
				display, _ := m["display"].(string)
				if display == "" && cs != nil {
					if c := cs.concept(code); c != nil {
						display = c.Display
					}
				}
				codes = append(codes, Coding{System: system, Code: code, Display: display})
			}
		case cs == nil:
			return nil, fhir.Errorf(fhir.NotSupported, "cannot expand: the code system %s is not known here", system)
		default:
			selected, err := filterCodes(cs, filters)
			if err != nil {
				return nil, err
			}
			for _, code := range selected {
				c := cs.concept(code)
				codes = append(codes, Coding{System: system, Code: c.Code, Display: c.Display})
			}
		}
	}
	sets, _ := inc["valueSet"].([]any)
	for i, x := range sets {
		url, _ := x.(string)
		vs, err := s.mustResource(ctx, "ValueSet", url)
		if err != nil {
			return nil, err
		}
		members, err := s.expand(ctx, vs, visiting)
		if err != nil {
			return nil, err
		}
		if system == "" && i == 0 {
			codes = members
			continue
		}
		in := map[[2]string]bool{}
		for _, c := range members {
			in[[2]string{c.System, c.Code}] = true
		}
		kept := codes[:0:0]
		for _, c := range codes {
			if in[[2]string{c.System, c.Code}] {
				kept = append(kept, c)
			}
		}
		codes = kept
	}
	return codes, nil
}

// filterCodes applies ValueSet.compose.include.filter to a code system's
// concepts (all of them, in order, with no filter). Filters are ANDed.
func filterCodes(cs *codeSystem, filters []any) ([]string, error) {
	selected := cs.order
	for _, x := range filters {
		f, _ := x.(map[string]any)
		prop, _ := f["property"].(string)
		op, _ := f["op"].(string)
		value, _ := f["value"].(string)
		keep := map[string]bool{}
		switch {
		case (op == "is-a" || op == "descendent-of" || op == "is-not-a") && (prop == "concept" || prop == "code"):
			if cs.concept(value) == nil {
				return nil, fhir.Errorf(fhir.Invalid, "filter %s %s: %q is not in %s", prop, op, value, cs.url)
			}
			for _, c := range cs.descendants(value) {
				keep[cs.key(c)] = true
			}
			if op == "is-a" || op == "is-not-a" {
				keep[cs.key(value)] = true
			}
			if op == "is-not-a" {
				all := map[string]bool{}
				for _, c := range cs.order {
					if !keep[cs.key(c)] {
						all[cs.key(c)] = true
					}
				}
				keep = all
			}
		case op == "=" && (prop == "concept" || prop == "code"):
			keep[cs.key(value)] = true
		case op == "=":
			for _, c := range cs.order {
				if cs.concept(c).Properties[prop] == value {
					keep[cs.key(c)] = true
				}
			}
		case op == "in" && (prop == "concept" || prop == "code"):
			for _, v := range strings.Split(value, ",") {
				keep[cs.key(strings.TrimSpace(v))] = true
			}
		case op == "regex" && (prop == "concept" || prop == "code"):
			re, err := compileAnchored(value)
			if err != nil {
				return nil, fhir.Errorf(fhir.Invalid, "filter regex %q: %v", value, err)
			}
			for _, c := range cs.order {
				if re.MatchString(c) {
					keep[cs.key(c)] = true
				}
			}
		default:
			return nil, fhir.Errorf(fhir.NotSupported, "value set filter %s %s is not supported", prop, op)
		}
		var next []string
		for _, c := range selected {
			if keep[cs.key(c)] {
				next = append(next, c)
			}
		}
		selected = next
	}
	return selected, nil
}

// TranslateMatch is one target of a ConceptMap for a source code.
type TranslateMatch struct {
	Equivalence string
	System      string
	Code        string
	Display     string
}

// Translate maps a code through a concept map, to the target system when
// one is given.
func (s *Service) Translate(ctx context.Context, conceptMap, system, code, target string) ([]TranslateMatch, error) {
	if code == "" || system == "" {
		return nil, fhir.Errorf(fhir.Invalid, "$translate needs system and code")
	}
	cm, err := s.mustResource(ctx, "ConceptMap", conceptMap)
	if err != nil {
		return nil, err
	}
	var out []TranslateMatch
	groups, _ := cm["group"].([]any)
	for _, g := range groups {
		gm, _ := g.(map[string]any)
		src, _ := gm["source"].(string)
		tgt, _ := gm["target"].(string)
		if src != system || target != "" && tgt != target {
			continue
		}
		elements, _ := gm["element"].([]any)
		for _, e := range elements {
			em, _ := e.(map[string]any)
			if c, _ := em["code"].(string); c != code {
				continue
			}
			targets, _ := em["target"].([]any)
			for _, t := range targets {
				tm, _ := t.(map[string]any)
				m := TranslateMatch{System: tgt}
				m.Code, _ = tm["code"].(string)
				m.Display, _ = tm["display"].(string)
				m.Equivalence, _ = tm["equivalence"].(string)
				if m.Equivalence == "" {
					m.Equivalence = "equivalent"
				}
				out = append(out, m)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return rank(out[i].Equivalence) < rank(out[j].Equivalence) })
	return out, nil
}

// rank orders equivalences best first; unmatched and disjoint last.
func rank(eq string) int {
	switch eq {
	case "equal", "equivalent":
		return 0
	case "wider", "subsumes", "narrower", "specializes", "relatedto", "inexact":
		return 1
	case "unmatched", "disjoint":
		return 3
	}
	return 2
}

// compileAnchored compiles a FHIR filter regex, which must match the whole
// code.
func compileAnchored(expr string) (*regexp.Regexp, error) {
	return regexp.Compile("^(?:" + expr + ")$")
}
