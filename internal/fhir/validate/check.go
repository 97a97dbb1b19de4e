package validate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hip-platform/hip/data"
	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/fhirpath"
)

// CodeStatus is what a terminology says of a code in a value set.
type CodeStatus int

const (
	CodeInvalid CodeStatus = iota // not in the value set
	CodeValid
	CodeUnknown // cannot tell: the code system is held in part (a fragment) or not at all
)

// Terminology checks codes against value sets (package terminology).
type Terminology interface {
	CheckCode(ctx context.Context, valueSet, system, code string) (CodeStatus, string, error)
}

// Env is what a full check consults beyond the definitions.
type Env struct {
	// Terminology checks bindings to value sets; nil leaves profile
	// bindings unchecked.
	Terminology Terminology
	// Find returns the stored StructureDefinition with a canonical URL, nil
	// when there is none; nil Find: only the shipped profiles are known.
	Find func(ctx context.Context, url string) (fhir.Resource, error)
}

// Shipped China core profiles and extension definitions (docs/profiles.md).
const (
	ProfileCNPatient      = fhir.NS + "StructureDefinition/cn-patient"
	ProfileCNOrganization = fhir.NS + "StructureDefinition/cn-organization"
	ProfileCNPractitioner = fhir.NS + "StructureDefinition/cn-practitioner"
	ProfileCNEncounter    = fhir.NS + "StructureDefinition/cn-encounter"
	ProfileCNCondition    = fhir.NS + "StructureDefinition/cn-condition"
	ProfileCNObservation  = fhir.NS + "StructureDefinition/cn-observation"

	// ExtValidationIssue keeps a finding with a resource accepted in
	// lenient mode; TagValidation marks such a resource.
	ExtValidationIssue = fhir.NS + "StructureDefinition/validation-issue"
	TagValidation      = fhir.NS + "CodeSystem/validation"
)

// CNProfiles are the China core profiles by resource type.
var CNProfiles = map[string][]string{
	"Patient":      {ProfileCNPatient},
	"Organization": {ProfileCNOrganization},
	"Practitioner": {ProfileCNPractitioner},
	"Encounter":    {ProfileCNEncounter},
	"Condition":    {ProfileCNCondition},
	"Observation":  {ProfileCNObservation},
}

// storedProfileTTL bounds how long a stored profile (or its absence) is
// remembered: writes of StructureDefinitions call Forget, the TTL covers
// other servers writing to the same database.
const storedProfileTTL = 30 * time.Second

type cachedProfile struct {
	p       *Profile // nil: no stored profile with the URL
	err     error
	expires time.Time
}

// loadShipped compiles the profiles under data/profiles.
func (v *Validator) loadShipped() {
	err := fs.WalkDir(data.Profiles, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Ext(p) != ".json" {
			return err
		}
		b, err := fs.ReadFile(data.Profiles, p)
		if err != nil {
			return err
		}
		sd, err := fhir.Parse(b)
		if err != nil {
			return fmt.Errorf("validate: %s: %w", p, err)
		}
		prof, err := v.CompileProfile(sd)
		if err != nil {
			return fmt.Errorf("validate: %s: %w", p, err)
		}
		v.shipped[prof.URL] = prof
		return nil
	})
	if err != nil {
		v.Problems = append(v.Problems, err)
	}
}

// profileByURL finds a profile: stored first (a region may publish its own
// version), then shipped. A |version suffix is ignored.
func (v *Validator) profileByURL(ctx context.Context, env *Env, url string) (*Profile, error) {
	url, _, _ = strings.Cut(url, "|")
	if env != nil && env.Find != nil {
		now := time.Now()
		if c, ok := v.stored.Load(url); ok && now.Before(c.(*cachedProfile).expires) {
			cp := c.(*cachedProfile)
			if cp.p != nil || cp.err != nil {
				return cp.p, cp.err
			}
		} else {
			cp := &cachedProfile{expires: now.Add(storedProfileTTL)}
			sd, err := env.Find(ctx, url)
			switch {
			case err != nil:
				return nil, fmt.Errorf("validate: find profile %s: %w", url, err)
			case sd != nil:
				cp.p, cp.err = v.CompileProfile(sd)
			}
			v.stored.Store(url, cp)
			if cp.p != nil || cp.err != nil {
				return cp.p, cp.err
			}
		}
	}
	if p := v.shipped[url]; p != nil {
		return p, nil
	}
	return nil, fmt.Errorf("未知的配置文件 the profile %s is not known here", url)
}

// Forget drops what is remembered of a stored profile, after it changed.
func (v *Validator) Forget(url string) { v.stored.Delete(url) }

// Validate returns every finding about res: structure, the specification's
// invariants, extensions, and the profiles its meta.profile names and
// those given. This is $validate; writes use Write.
func (v *Validator) Validate(ctx context.Context, env *Env, res fhir.Resource, profiles []string) []fhir.Issue {
	issues := v.Check(res, true)
	if hasError(issues) {
		return issues
	}
	return append(issues, v.beyond(ctx, env, res, profiles)...)
}

// beyond checks what the structural walk does not: extensions and
// profiles. A profile asked for (profiles) that is not known is an error;
// one the resource only claims in meta.profile is a warning: it cannot be
// checked here, which does not make the resource wrong.
func (v *Validator) beyond(ctx context.Context, env *Env, res fhir.Resource, profiles []string) []fhir.Issue {
	c := &profileCheck{ctx: ctx, v: v, env: env, res: res, seen: map[string]bool{},
		fp: &fhirpath.Env{Model: v.model, Resource: res, RootResource: res}}
	c.extensions(map[string]any(res), []string{res.Type()})
	claimed := metaProfiles(res)
	for _, url := range append(claimed, profiles...) {
		if url == "http://hl7.org/fhir/StructureDefinition/"+res.Type() {
			continue
		}
		p, err := v.profileByURL(ctx, env, url)
		if err != nil {
			sev := "error"
			if !slices.Contains(profiles, url) {
				sev = "warning"
			}
			c.add(sev, "not-supported", res.Type(), "%v", err)
			continue
		}
		if p.Type != res.Type() {
			c.add("error", "invalid", res.Type(), "配置文件类型不符 the profile %s is for %s, not %s", url, p.Type, res.Type())
			continue
		}
		c.profile(p, map[string]any(res), res.Type())
	}
	return c.issues
}

func metaProfiles(res fhir.Resource) []string {
	meta, _ := res["meta"].(map[string]any)
	return asStrings(meta["profile"])
}

func hasError(issues []fhir.Issue) bool {
	return slices.ContainsFunc(issues, func(is fhir.Issue) bool { return is.Severity == "error" || is.Severity == "fatal" })
}

// extensions checks every extension and modifierExtension in a JSON value
// against its definition: the specification's, a shipped or stored one.
// An extension HIP does not know is a warning (it may be a facility's own),
// never an error, modifier extensions included; its nested extensions are
// then not looked at.
func (c *profileCheck) extensions(val any, path []string) {
	switch x := val.(type) {
	case map[string]any:
		for k, child := range x {
			if k == "extension" || k == "modifierExtension" {
				list, _ := child.([]any)
				for i, raw := range list {
					ext, ok := raw.(map[string]any)
					if !ok {
						continue
					}
					c.oneExtension(ext, append(path, "."+k+"["+strconv.Itoa(i)+"]"), k == "modifierExtension")
				}
				continue
			}
			if _, isMap := child.(map[string]any); isMap {
				c.extensions(child, append(path, "."+k))
			} else if _, isList := child.([]any); isList {
				c.extensions(child, append(path, "."+k))
			}
		}
	case []any:
		for i, item := range x {
			if _, isMap := item.(map[string]any); isMap {
				c.extensions(item, append(path, "["+strconv.Itoa(i)+"]"))
			}
		}
	}
}

// oneExtension checks an extension at path (its location in segments,
// joined only when needed: most extensions are fine).
func (c *profileCheck) oneExtension(ext map[string]any, path []string, modifier bool) {
	url, _ := ext["url"].(string)
	if url == "" {
		return // the structural walk reports a missing url
	}
	where := strings.Join(path, "")
	if def := c.v.defs.Extension(url); def != nil {
		c.extensionValue(url, def.Types, len(def.Types) == 0, ext, where)
		c.extensions(valueOnly(ext), path)
		return
	}
	if p, err := c.v.profileByURL(c.ctx, c.env, url); err == nil && p.Type == "Extension" {
		c.extension(p, ext, where)
		c.extensions(valueOnly(ext), path)
		return
	}
	if modifier {
		// Still a warning (unknown extensions never refuse a resource), but
		// one that says what is at stake.
		c.add("warning", "extension", where, "未知的修饰扩展 unknown modifier extension %s: it may change the meaning of the resource, and HIP cannot read it", url)
		return
	}
	if strings.Contains(url, "://") || strings.HasPrefix(url, "urn:") {
		c.add("warning", "extension", where, "未知扩展 unknown extension %s: accepted without checking", url)
	}
}

// valueOnly is an extension's value, whose own extensions are checked;
// the extension's nested extensions belong to its definition.
func valueOnly(ext map[string]any) any {
	for k, v := range ext {
		if strings.HasPrefix(k, "value") {
			return v
		}
	}
	return nil
}

// Mode says what a write with errors beyond the structure gets.
type Mode string

const (
	// Strict refuses the resource with 422 and the findings.
	Strict Mode = "strict"
	// Lenient accepts it and keeps the findings with it (meta.extension
	// validation-issue, meta.tag validation).
	Lenient Mode = "lenient"
	// Structural checks only the structure, as HIP did before profiles: for
	// trusted bulk loads, and the baseline of the benchmarks.
	Structural Mode = "structural"
)

// Rules are what writes from one source are checked against.
type Rules struct {
	Mode Mode `json:"mode"`
	// Profiles every resource of a type must meet, beyond those its
	// meta.profile names.
	Profiles map[string][]string `json:"profiles,omitempty"`
}

// Policy chooses the rules per source facility (the Organization id of
// the writing principal); Default applies to the others and to writes
// without a facility.
type Policy struct {
	Default    Rules            `json:"default"`
	Facilities map[string]Rules `json:"facilities,omitempty"`
}

// DefaultPolicy refuses errors and names no profiles beyond meta.profile.
func DefaultPolicy() *Policy { return &Policy{Default: Rules{Mode: Strict}} }

// For returns the rules of a facility.
func (p *Policy) For(facility string) Rules {
	if p == nil {
		return Rules{Mode: Strict}
	}
	if r, ok := p.Facilities[facility]; ok && facility != "" {
		return r
	}
	return p.Default
}

// LoadPolicy reads a policy from a JSON file and checks its modes and
// that the validator knows its profiles (shipped ones; stored profiles
// are found at write time).
func (v *Validator) LoadPolicy(file string) (*Policy, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("validate: policy: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	p := &Policy{}
	if err := dec.Decode(p); err != nil {
		return nil, fmt.Errorf("validate: policy %s: %w", file, err)
	}
	if p.Default.Mode == "" {
		p.Default.Mode = Strict
	}
	check := func(who string, r *Rules) error {
		switch r.Mode {
		case Strict, Lenient, Structural:
		case "":
			r.Mode = p.Default.Mode
		default:
			return fmt.Errorf("validate: policy %s: %s: mode %q is not strict, lenient or structural", file, who, r.Mode)
		}
		for typ, urls := range r.Profiles {
			for _, u := range urls {
				if prof := v.shipped[u]; prof != nil && prof.Type != typ {
					return fmt.Errorf("validate: policy %s: %s: profile %s is for %s, not %s", file, who, u, prof.Type, typ)
				}
			}
		}
		return nil
	}
	if err := check("default", &p.Default); err != nil {
		return nil, err
	}
	for f, r := range p.Facilities {
		if err := check("facility "+f, &r); err != nil {
			return nil, err
		}
		p.Facilities[f] = r
	}
	return p, nil
}

// maxKept bounds the findings kept with a resource accepted leniently.
const maxKept = 20

// Write checks a resource about to be stored under rules. A structural
// error always refuses it (400: it is not FHIR). Other errors — the
// specification's invariants, profiles, extensions — refuse it with 422 in
// strict mode, where warnings only go back in the response; in lenient mode
// it is accepted and every finding is kept in its meta (validation-issue
// extensions and a validation tag), replacing those of earlier versions.
// The specification's best-practice warning dom-6 (narrative) is left out
// of both. It returns the findings, for the response.
func (v *Validator) Write(ctx context.Context, env *Env, res fhir.Resource, rules Rules) ([]fhir.Issue, error) {
	stripKept(res)
	if rules.Mode == Structural {
		return nil, v.Resource(res)
	}
	issues := v.Check(res, true)
	if slices.ContainsFunc(issues, structural) {
		return nil, invalid(issues)
	}
	issues = slices.DeleteFunc(issues, func(is fhir.Issue) bool {
		return is.Severity == "warning" && strings.HasPrefix(is.Diagnostics, "dom-6:")
	})
	issues = append(issues, v.beyond(ctx, env, res, rules.Profiles[res.Type()])...)
	if len(issues) == 0 {
		return nil, nil
	}
	if rules.Mode == Lenient {
		keep(res, issues)
		return issues, nil
	}
	if hasError(issues) {
		msg := firstError(issues)
		if n := len(issues) - 1; n > 0 {
			msg = fmt.Sprintf("%s (and %d more issues)", msg, n)
		}
		return nil, &fhir.Error{Code: fhir.Unprocessable, Message: "不符合校验规则 the resource breaks validation rules: " + msg, Issues: issues}
	}
	return issues, nil
}

// structural reports an error that makes the body not FHIR (refused in
// every mode), as against a broken rule: an invariant, a reference to a
// type the element does not allow.
func structural(is fhir.Issue) bool {
	return (is.Severity == "error" || is.Severity == "fatal") && is.Code != "invariant" && is.Code != "invalid"
}

func firstError(issues []fhir.Issue) string {
	for _, is := range issues {
		if is.Severity == "error" || is.Severity == "fatal" {
			return is.Diagnostics
		}
	}
	return ""
}

func invalid(issues []fhir.Issue) error {
	msg := firstError(issues)
	if len(issues) > 1 {
		msg = fmt.Sprintf("%s (and %d more issues)", msg, len(issues)-1)
	}
	return &fhir.Error{Code: fhir.Invalid, Message: "invalid resource: " + msg, Issues: issues}
}

// keep records findings in the resource's meta.
func keep(res fhir.Resource, issues []fhir.Issue) {
	meta, _ := res["meta"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		res["meta"] = meta
	}
	code, display := "warnings", "有警告 accepted with warnings"
	if hasError(issues) {
		code, display = "errors", "有错误，宽松模式接收 accepted with errors (lenient mode)"
	}
	tags, _ := meta["tag"].([]any)
	meta["tag"] = append(tags, map[string]any{"system": TagValidation, "code": code, "display": display})
	exts, _ := meta["extension"].([]any)
	for i, is := range issues {
		if i == maxKept {
			break
		}
		parts := []any{
			map[string]any{"url": "severity", "valueCode": is.Severity},
			map[string]any{"url": "code", "valueCode": is.Code},
		}
		if len(is.Expression) > 0 && is.Expression[0] != "" {
			parts = append(parts, map[string]any{"url": "expression", "valueString": is.Expression[0]})
		}
		parts = append(parts, map[string]any{"url": "diagnostics", "valueString": is.Diagnostics})
		exts = append(exts, map[string]any{"url": ExtValidationIssue, "extension": parts})
	}
	meta["extension"] = exts
}

// dropWhere removes the items of the array meta[name] whose key is value,
// and the array when it is left empty.
func dropWhere(meta map[string]any, name, key, value string) {
	list, ok := meta[name].([]any)
	if !ok {
		return
	}
	list = slices.DeleteFunc(list, func(x any) bool {
		m, _ := x.(map[string]any)
		return m[key] == value
	})
	if len(list) == 0 {
		delete(meta, name)
	} else {
		meta[name] = list
	}
}

// stripKept removes the findings an earlier version kept: they are the
// server's, recomputed on every write.
func stripKept(res fhir.Resource) {
	meta, _ := res["meta"].(map[string]any)
	if meta == nil {
		return
	}
	dropWhere(meta, "tag", "system", TagValidation)
	dropWhere(meta, "extension", "url", ExtValidationIssue)
	if len(meta) == 0 {
		delete(res, "meta")
	}
}
