package search

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/hip-platform/hip/internal/fhir/spec"
)

func TestExplore(t *testing.T) {
	defs, err := spec.Load()
	if err != nil {
		t.Fatal(err)
	}
	empty := map[string][]string{}
	types := map[string]int{}
	resolves := map[string]bool{}
	comps := map[int]int{}
	for _, rt := range defs.ResourceTypes() {
		for _, sp := range defs.SearchParams(rt) {
			types[sp.Type]++
			if sp.Expression == "" {
				empty[sp.Code] = append(empty[sp.Code], rt)
			}
			if strings.Contains(sp.Expression, "resolve()") {
				for _, b := range strings.Split(sp.Expression, "|") {
					if strings.Contains(b, "resolve()") && !strings.Contains(b, "where(resolve() is") {
						resolves[strings.TrimSpace(b)] = true
					}
				}
			}
			if sp.Type == "composite" {
				comps[len(sp.Component)]++
			}
			if sp.Type == "special" {
				fmt.Println("special", rt, sp.Code, sp.Expression)
			}
		}
	}
	for k, v := range empty {
		fmt.Println("empty", k, len(v), v[:min(3, len(v))])
	}
	fmt.Println(types, comps)
	var rs []string
	for k := range resolves {
		rs = append(rs, k)
	}
	sort.Strings(rs)
	fmt.Println(strings.Join(rs, "\n"))
	sp := defs.SearchParam("Observation", "code-value-quantity")
	fmt.Printf("%+v\n", *sp)
	for _, c := range sp.Component {
		fmt.Printf("%+v\n", *defs.SearchParamByURL(c.Definition))
	}
	fmt.Printf("%+v\n", *defs.SearchParam("Patient", "name"))
	fmt.Printf("%+v\n", *defs.SearchParam("Observation", "patient"))
}
