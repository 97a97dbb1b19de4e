package hanzi

import "testing"

func TestFold(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"張偉華", "张伟华"},
		{"陳麗", "陈丽"},
		{"歐陽鳳", "欧阳凤"},
		{"张三", "张三"},                   // already simplified
		{"乾隆", "乾隆"},                   // 乾 is in use in simplified text: kept
		{"著名", "著名"},                   // likewise 著
		{"Ｚｈａｎｇ　Ｓａｎ", "Zhang San"},     // full-width letters and ideographic space
		{"１３８００１３８０００", "13800138000"}, // full-width digits
		{"廣東省廣州市", "广东省广州市"},
		{"", ""},
		{"abc", "abc"},
	}
	for _, tt := range tests {
		if got := Fold(tt.in); got != tt.want {
			t.Errorf("Fold(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := Simplify("Ｚ張"); got != "Ｚ张" {
		t.Errorf("Simplify folds only characters: %q", got)
	}
	if got := FoldWidth("Ｚ張"); got != "Z張" {
		t.Errorf("FoldWidth folds only width: %q", got)
	}
}

func TestTableSize(t *testing.T) {
	t.Parallel()
	// OpenCC 1.4.2 lists 5,057 characters; 3,203 map to another one (the rest
	// are kept as themselves or map to supplementary-plane variants of their own).
	if n := len(toSimplified); n < 3000 || n > 3500 {
		t.Errorf("%d mappings, want about 3,200", n)
	}
}

func FuzzFold(f *testing.F) {
	for _, s := range []string{"張偉", "Ｚｈａｎｇ", "\xff\xfe", "乾"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		once := Fold(s)
		if Fold(once) != once {
			t.Errorf("Fold is not idempotent on %q", s)
		}
	})
}

func TestTableIsFolded(t *testing.T) {
	t.Parallel()
	for from, to := range toSimplified {
		if again, ok := toSimplified[to]; ok {
			t.Errorf("%c → %c → %c: the table is not closed", from, to, again)
		}
	}
}
