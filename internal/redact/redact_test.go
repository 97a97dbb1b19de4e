package redact

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"identifier=110101199003074578", "identifier=110101********4578"},
		{"id 11010119900307457X, phone 13812345678.", "id 110101********457X, phone 138****5678."},
		{"old 110101900307457 new", "old 110101******457 new"},
		{"13812345678,13987654321", "138****5678,139****4321"},
		{"Patient/pat-0000000-1 seq 1234567890", "Patient/pat-0000000-1 seq 1234567890"}, // too short for either
		{"2026-11-30T08:00:00Z", "2026-11-30T08:00:00Z"},
		{"12345678901234567890123", "12345678901234567890123"}, // a long number is not an ID
		{"", ""},
	}
	for _, tc := range tests {
		if got := Text(tc.in); got != tc.want {
			t.Errorf("Text(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{ReplaceAttr: Attr}))
	log.Info("rejected 110101199003074578", "err", errors.New("phone 13812345678 invalid"), "values", []string{"13812345678"})
	out := buf.String()
	for _, leak := range []string{"199003074578", "12345678"} {
		if strings.Contains(out, leak) {
			t.Errorf("log leaks %s: %s", leak, out)
		}
	}
}

func FuzzText(f *testing.F) {
	f.Add("110101199003074578 13812345678")
	f.Fuzz(func(t *testing.T, s string) {
		got := Text(s)
		if residentID.MatchString(got) || oldID.MatchString(got) || mobile.MatchString(got) {
			t.Fatalf("Text(%q) = %q still holds an identifier", s, got)
		}
	})
}
