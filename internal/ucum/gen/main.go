// Command gen extracts the prefixes and unit atoms of the official UCUM
// essence file (ucum-essence.xml, https://ucum.org/ucum) into the compact
// table embedded in package data:
//
//	go run ./internal/ucum/gen -in ucum-essence.xml -out data/ucum/essence.tsv
//
// Only what validation needs is kept: codes, the metric, special and
// arbitrary flags, the class and the prefix values. Conversion factors are
// left out because HIP checks codes, it does not convert quantities.
// The output depends only on the input, in the file's order.
package main

import (
	"encoding/xml"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
)

// notice is the copyright notice, licence reference and disclaimer that the
// UCUM License (section 3.b) asks to be kept with copies of UCUM content.
const notice = "# Copyright 1999-2021 Regenstrief Institute, Inc. All rights reserved. Licensed under the UCUM License, Version 1.0 (https://unitsofmeasure.org/license); provided \"AS IS\", without warranties or conditions of any kind.\n"

// essence is the part of ucum-essence.xml that gen reads.
type essence struct {
	Version      string `xml:"version,attr"`
	RevisionDate string `xml:"revision-date,attr"`
	Prefixes     []struct {
		Code  string `xml:"Code,attr"`
		Value struct {
			Value string `xml:"value,attr"`
		} `xml:"value"`
	} `xml:"prefix"`
	BaseUnits []struct {
		Code string `xml:"Code,attr"`
	} `xml:"base-unit"`
	Units []struct {
		Code        string `xml:"Code,attr"`
		IsMetric    string `xml:"isMetric,attr"`
		IsSpecial   string `xml:"isSpecial,attr"`
		IsArbitrary string `xml:"isArbitrary,attr"`
		Class       string `xml:"class,attr"`
	} `xml:"unit"`
}

func main() {
	in := flag.String("in", "", "ucum-essence.xml")
	out := flag.String("out", "", "output file (default standard output)")
	flag.Parse()
	if *in == "" {
		flag.Usage()
		os.Exit(2)
	}
	f, err := os.Open(*in)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	var w io.Writer = os.Stdout
	if *out != "" {
		o, err := os.Create(*out)
		if err != nil {
			log.Fatal(err)
		}
		defer func() {
			if err := o.Close(); err != nil {
				log.Fatal(err)
			}
		}()
		w = o
	}
	if err := generate(f, w); err != nil {
		log.Fatal(err)
	}
}

func generate(r io.Reader, w io.Writer) error {
	d := xml.NewDecoder(r)
	// The file declares encoding="ascii", which encoding/xml does not know;
	// ASCII is a subset of UTF-8, so the bytes can be read as they are.
	d.CharsetReader = func(label string, in io.Reader) (io.Reader, error) {
		switch strings.ToLower(label) {
		case "ascii", "us-ascii", "utf-8":
			return in, nil
		}
		return nil, fmt.Errorf("unsupported encoding %q", label)
	}
	var e essence
	if err := d.Decode(&e); err != nil {
		return err
	}
	if e.Version == "" || len(e.Prefixes) == 0 || len(e.Units) == 0 {
		return fmt.Errorf("not a UCUM essence file (version %q, %d prefixes, %d units)", e.Version, len(e.Prefixes), len(e.Units))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# UCUM prefixes and unit atoms from ucum-essence.xml version %s (%s), https://ucum.org/ucum\n", e.Version, e.RevisionDate)
	b.WriteString(notice)
	b.WriteString("# kind\tcode\tmetric\tspecial\tarbitrary\tclass\tvalue\n")
	for _, p := range e.Prefixes {
		if err := check(p.Code); err != nil {
			return err
		}
		fmt.Fprintf(&b, "prefix\t%s\t-\t-\t-\t-\t%s\n", p.Code, p.Value.Value)
	}
	// UCUM §4.2: base units are metric, never special nor arbitrary.
	for _, u := range e.BaseUnits {
		if err := check(u.Code); err != nil {
			return err
		}
		fmt.Fprintf(&b, "base\t%s\tyes\tno\tno\t-\t-\n", u.Code)
	}
	for _, u := range e.Units {
		if err := check(u.Code); err != nil {
			return err
		}
		class := u.Class
		if class == "" {
			class = "-"
		}
		fmt.Fprintf(&b, "unit\t%s\t%s\t%s\t%s\t%s\t-\n", u.Code, yesNo(u.IsMetric), yesNo(u.IsSpecial), yesNo(u.IsArbitrary), class)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// yesNo normalises an optional yes/no attribute: absent means no.
func yesNo(s string) string {
	if s == "yes" {
		return "yes"
	}
	return "no"
}

// check refuses codes the table format cannot carry.
func check(code string) error {
	if code == "" || strings.ContainsAny(code, "\t\n\r ") {
		return fmt.Errorf("code %q cannot be written to the table", code)
	}
	return nil
}
