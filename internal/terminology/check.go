package terminology

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hip-platform/hip/internal/fhir/validate"
	"github.com/hip-platform/hip/internal/ucum"
)

// SystemUCUM is the Unified Code for Units of Measure: a grammar, not a
// list, so its codes are checked by parsing them (package ucum).
const SystemUCUM = "http://unitsofmeasure.org"

// checkTTL bounds how long CheckCode remembers a value set: writes of
// terminology resources call Forget, the TTL covers other servers writing
// to the same database.
const checkTTL = 30 * time.Second

// memberTest answers membership in one value set.
type memberTest struct {
	// wholeSystems are systems the value set includes whole (no filter, no
	// listed concepts): membership is the code system's.
	wholeSystems []string
	// codes are the expansion's (system|code) when the value set is not
	// only whole systems.
	codes     map[[2]string]bool
	anySystem map[string]bool // the expansion's codes, for a code given without its system
	// partial lists included systems not held completely: a code missing
	// from the expansion may still be in them.
	partial map[string]bool
	expires time.Time
}

type checkCache struct {
	mu      sync.Mutex
	sets    map[string]*memberTest
	systems map[string]*cachedSystem
}

type cachedSystem struct {
	cs      *codeSystem // nil: not known
	expires time.Time
}

// Forget drops what CheckCode remembers, after a terminology resource changed.
func (s *Service) Forget() {
	s.cache.mu.Lock()
	s.cache.sets, s.cache.systems = nil, nil
	s.cache.mu.Unlock()
}

// CheckCode tells whether a code is in a value set, for validation. A code
// of a code system HIP holds only in part (content fragment, like the demo
// subset of ICD-10) or not at all is CodeUnknown, not invalid: the code may
// well exist.
func (s *Service) CheckCode(ctx context.Context, valueSet, system, code string) (validate.CodeStatus, string, error) {
	t, err := s.memberTest(ctx, valueSet)
	if err != nil {
		return validate.CodeInvalid, "", err
	}
	for _, sys := range t.wholeSystems {
		if system != "" && system != sys {
			continue
		}
		if sys == SystemUCUM {
			if err := ucum.Validate(code); err != nil {
				return validate.CodeInvalid, err.Error(), nil
			}
			return validate.CodeValid, "", nil
		}
		cs, err := s.cachedCodeSystem(ctx, sys)
		if err != nil {
			return validate.CodeInvalid, "", err
		}
		switch {
		case cs == nil:
			return validate.CodeUnknown, fmt.Sprintf("代码系统未知 the code system %s is not known here: %q not checked", sys, code), nil
		case cs.concept(code) != nil:
			return validate.CodeValid, "", nil
		case !cs.complete:
			return validate.CodeUnknown, fmt.Sprintf("代码 %q 不在本平台持有的部分代码表中 the code %q is not in the part of %s held here", code, code, sys), nil
		}
		return validate.CodeInvalid, fmt.Sprintf("代码不存在 code %q is not in %s", code, sys), nil
	}
	if t.codes != nil {
		if system == "" && t.anySystem[code] || t.codes[[2]string{system, code}] {
			return validate.CodeValid, "", nil
		}
		if t.partial[system] {
			return validate.CodeUnknown, fmt.Sprintf("the code %q may be in the part of %s not held here", code, system), nil
		}
	}
	return validate.CodeInvalid, fmt.Sprintf("代码不在值集中 code %q%s is not in the value set %s", code, inSystem(system), valueSet), nil
}

func (s *Service) memberTest(ctx context.Context, url string) (*memberTest, error) {
	now := time.Now()
	s.cache.mu.Lock()
	t := s.cache.sets[url]
	s.cache.mu.Unlock()
	if t != nil && now.Before(t.expires) {
		return t, nil
	}
	vs, err := s.mustResource(ctx, "ValueSet", url)
	if err != nil {
		return nil, err
	}
	t = &memberTest{expires: now.Add(checkTTL), partial: map[string]bool{}}
	compose, _ := vs["compose"].(map[string]any)
	includes, _ := compose["include"].([]any)
	_, hasExcludes := compose["exclude"]
	whole := compose != nil && !hasExcludes
	for _, raw := range includes {
		inc, _ := raw.(map[string]any)
		sys, _ := inc["system"].(string)
		if sys == "" || len(inc) != 1 && !(len(inc) == 2 && inc["version"] != nil) {
			whole = false
			break
		}
		t.wholeSystems = append(t.wholeSystems, sys)
	}
	if !whole {
		t.wholeSystems = nil
		exp, err := s.expand(ctx, vs, map[string]bool{})
		if err != nil {
			return nil, err
		}
		t.codes = make(map[[2]string]bool, len(exp))
		t.anySystem = make(map[string]bool, len(exp))
		for _, c := range exp {
			t.codes[[2]string{c.System, c.Code}] = true
			t.anySystem[c.Code] = true
		}
		for _, raw := range includes {
			inc, _ := raw.(map[string]any)
			if sys, _ := inc["system"].(string); sys != "" {
				if cs, err := s.cachedCodeSystem(ctx, sys); err == nil && (cs == nil || !cs.complete) {
					t.partial[sys] = true
				}
			}
		}
	}
	s.cache.mu.Lock()
	if s.cache.sets == nil {
		s.cache.sets = map[string]*memberTest{}
	}
	s.cache.sets[url] = t
	s.cache.mu.Unlock()
	return t, nil
}

func (s *Service) cachedCodeSystem(ctx context.Context, url string) (*codeSystem, error) {
	now := time.Now()
	s.cache.mu.Lock()
	c := s.cache.systems[url]
	s.cache.mu.Unlock()
	if c != nil && now.Before(c.expires) {
		return c.cs, nil
	}
	cs, err := s.codeSystem(ctx, url)
	if err != nil {
		return nil, err
	}
	s.cache.mu.Lock()
	if s.cache.systems == nil {
		s.cache.systems = map[string]*cachedSystem{}
	}
	s.cache.systems[url] = &cachedSystem{cs: cs, expires: now.Add(checkTTL)}
	s.cache.mu.Unlock()
	return cs, nil
}
