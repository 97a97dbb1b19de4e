package empi

import (
	"math"
	"testing"
)

func TestJaroWinkler(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b string
		want float64
	}{
		// Reference values from Winkler (1990) and the usual textbooks.
		{"martha", "marhta", 0.9611},
		{"dwayne", "duane", 0.84},
		{"dixon", "dicksonx", 0.8133},
		{"jones", "johnson", 0.8323},
		{"abc", "abc", 1},
		{"", "", 0},
		{"abc", "", 0},
		{"abc", "xyz", 0},
		{"张三丰", "张三峰", 0.8222}, // runes, not bytes
	}
	for _, tt := range tests {
		got := jaroWinkler(tt.a, tt.b)
		if math.Abs(got-tt.want) > 1e-4 {
			t.Errorf("jaroWinkler(%q, %q) = %.4f, want %.4f", tt.a, tt.b, got, tt.want)
		}
		if back := jaroWinkler(tt.b, tt.a); math.Abs(back-got) > 1e-12 {
			t.Errorf("jaroWinkler not symmetric on %q, %q: %v vs %v", tt.a, tt.b, got, back)
		}
	}
}

func TestEditDistance(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b  string
		limit int
		want  int
	}{
		{"110105199001011234", "110105199001011234", 2, 0},
		{"110105199001011234", "110105199010011234", 2, 1}, // adjacent transposition
		{"110105199001011234", "110105199001011235", 2, 1},
		{"110105199001011234", "11010519900101123", 2, 1},
		{"19900101", "19901001", 2, 1}, // 01 → 10
		{"19900112", "19901201", 2, 3}, // day and month swapped: the date comparator sees it
		{"abcdef", "ghijkl", 2, 3},     // beyond the limit
		{"abc", "abcdef", 2, 3},
		{"", "", 1, 0},
		{"kitten", "sitting", 5, 3},
		{"张伟", "张玮", 1, 1},
	}
	for _, tt := range tests {
		if got := editDistance(tt.a, tt.b, tt.limit); got != tt.want {
			t.Errorf("editDistance(%q, %q, %d) = %d, want %d", tt.a, tt.b, tt.limit, got, tt.want)
		}
	}
}
