package pinyin

import (
	"slices"
	"strings"
	"testing"
)

func TestSurnameOverrides(t *testing.T) {
	tests := []struct {
		family string
		want   string
	}{
		{"单", "shan"}, {"曾", "zeng"}, {"解", "xie"}, {"区", "ou"}, {"仇", "qiu"},
		{"朴", "piao"}, {"查", "zha"}, {"繁", "po"}, {"盖", "ge"}, {"尉迟", "yu chi"},
		{"万俟", "mo qi"}, {"乐", "yue"}, {"缪", "miao"}, {"覃", "qin"}, {"翟", "zhai"},
		{"折", "she"}, {"员", "yun"}, {"种", "chong"}, {"秘", "bi"}, {"长孙", "zhang sun"},
		{"宓", "mi"}, {"召", "shao"}, {"阚", "kan"}, {"隗", "wei"}, {"那", "na"},
		{"都", "du"}, {"重", "chong"}, {"柏", "bai"}, {"薄", "bo"}, {"臧", "zang"},
		{"郇", "huan"}, {"黑", "he"}, {"能", "nai"}, {"眭", "sui"}, {"句", "gou"},
		{"蕃", "pi"}, {"过", "guo"}, {"逄", "pang"}, {"华", "hua"}, {"任", "ren"},
		{"沈", "shen"}, {"贾", "jia"}, {"葛", "ge"}, {"纪", "ji"}, {"洗", "xian"},
		{"冼", "xian"}, {"尉", "wei"}, {"令狐", "ling hu"}, {"澹台", "tan tai"},
		{"皇甫", "huang fu"}, {"司马", "si ma"}, {"欧阳", "ou yang"}, {"上官", "shang guan"},
		{"诸葛", "zhu ge"}, {"东方", "dong fang"}, {"夏侯", "xia hou"}, {"公孙", "gong sun"},
		{"慕容", "mu rong"}, {"宇文", "yu wen"}, {"呼延", "hu yan"}, {"端木", "duan mu"},
		{"闾丘", "lv qiu"}, {"张李", "zhang li"},
	}
	for _, tt := range tests {
		// Alone as a family name, and at the start of a full name.
		if got := strings.Join(Name(tt.family, ""), " "); got != tt.want {
			t.Errorf("Name(%q, \"\") = %q, want %q", tt.family, got, tt.want)
		}
		if got := strings.Join(Full(tt.family+"明"), " "); got != tt.want+" ming" {
			t.Errorf("Full(%q) = %q, want %q", tt.family+"明", got, tt.want+" ming")
		}
	}
}

func TestNamesAndFull(t *testing.T) {
	tests := []struct {
		family, given string
		want          string
	}{
		{"", "欧阳修", "ou yang xiu"},
		{"", "司马光", "si ma guang"},
		{"", "诸葛亮", "zhu ge liang"},
		{"", "单雄信", "shan xiong xin"},
		{"", "曾国藩", "zeng guo fan"},
		{"", "解缙", "xie jin"},
		{"", "尉迟恭", "yu chi gong"},
		{"", "  张三 ", "zhang san"},
		{"", "张 三", "zhang san"},
		{"单", "雄信", "shan xiong xin"},
		{"欧阳", "修", "ou yang xiu"},
		// Override readings apply to the surname position only.
		{"张", "单", "zhang dan"},
		{"乐", "乐", "yue le"},
		// Given-name readings.
		{"李", "长江", "li chang jiang"},
		{"王", "晟", "wang sheng"},
		// ü spelled v; ju/qu/xu/yu keep u.
		{"吕", "女", "lv nv"},
		{"徐", "菊", "xu ju"},
		// Non-Chinese text passes through, one syllable per word.
		{"Smith", "John", "smith john"},
		{"", "John O'Brien", "john obrien"},
		{"", "买买提·艾力", "mai mai ti ai li"},
		{"", "张三2", "zhang san 2"},
		{"", "张Ｊｏｈｎ", "zhang john"},
		{"", "Jean-Pierre", "jean pierre"},
		{"", "", ""},
	}
	for _, tt := range tests {
		if got := strings.Join(Name(tt.family, tt.given), " "); got != tt.want {
			t.Errorf("Name(%q, %q) = %q, want %q", tt.family, tt.given, got, tt.want)
		}
	}
	for given, want := range map[string]string{"单": "dan", "曾国藩": "ceng guo fan", "长江": "chang jiang", "Ｊｏｈｎ": "john"} {
		if got := strings.Join(Given(given), " "); got != want {
			t.Errorf("Given(%q) = %q, want %q", given, got, want)
		}
	}
}

func TestSplitSurname(t *testing.T) {
	tests := []struct{ text, family, given string }{
		{"欧阳修", "欧阳", "修"},
		{"司马光", "司马", "光"},
		{"单雄信", "单", "雄信"},
		{"张三", "张", "三"},
		{" 张 三", "张", "三"},
		{"欧阳", "欧阳", ""},
		{"欧", "欧", ""},
		{"John Smith", "", "John Smith"},
		{"", "", ""},
	}
	for _, tt := range tests {
		family, given := SplitSurname(tt.text)
		if family != tt.family || given != tt.given {
			t.Errorf("SplitSurname(%q) = %q, %q; want %q, %q", tt.text, family, given, tt.family, tt.given)
		}
	}
}

func TestKeyInitials(t *testing.T) {
	tests := []struct {
		name          string
		key, initials string
	}{
		{"张三", "zhangsan", "zs"},
		{"欧阳修", "ouyangxiu", "oyx"},
		{"John Smith", "johnsmith", "js"},
		{"", "", ""},
	}
	for _, tt := range tests {
		syl := Full(tt.name)
		if got := Key(syl); got != tt.key {
			t.Errorf("Key(Full(%q)) = %q, want %q", tt.name, got, tt.key)
		}
		if got := Initials(syl); got != tt.initials {
			t.Errorf("Initials(Full(%q)) = %q, want %q", tt.name, got, tt.initials)
		}
	}
	if got := Key([]string{"Zhang", "San"}); got != "zhangsan" {
		t.Errorf("Key lower-cases: got %q", got)
	}
}

func TestFuzzy(t *testing.T) {
	same := [][2]string{
		{"zhang", "zang"}, {"chen", "cen"}, {"shi", "si"}, {"chen", "ceng"},
		{"lin", "ling"}, {"nan", "lan"}, {"ni", "li"}, {"nan", "lang"},
		{"fang", "hang"}, {"hu", "fu"}, {"feng", "hen"}, {"wang", "wan"},
		{"jiang", "jian"}, {"guang", "guan"}, {"zhuang", "zuan"},
	}
	for _, p := range same {
		if a, b := Fuzzy(p[0]), Fuzzy(p[1]); a != b {
			t.Errorf("Fuzzy(%q) = %q, Fuzzy(%q) = %q, want equal", p[0], a, p[1], b)
		}
	}
	different := [][2]string{
		{"fang", "huang"}, {"zhang", "zhao"}, {"an", "en"}, {"lin", "lun"},
		{"li", "ri"}, {"bin", "pin"}, {"zhong", "zhon"}, {"ng", "lg"}, {"ng", "n"},
	}
	for _, p := range different {
		if a, b := Fuzzy(p[0]), Fuzzy(p[1]); a == b {
			t.Errorf("Fuzzy(%q) = Fuzzy(%q) = %q, want different", p[0], p[1], a)
		}
	}
	canonical := map[string]string{
		"zhang": "zan", "ning": "lin", "huang": "fuan", "sheng": "sen", "ong": "ong", "": "",
	}
	for in, want := range canonical {
		if got := Fuzzy(in); got != want {
			t.Errorf("Fuzzy(%q) = %q, want %q", in, got, want)
		}
	}
	if a, b := FuzzyKey(Full("张林")), FuzzyKey(Full("臧琳")); a != b || a != "zanlin" {
		t.Errorf("FuzzyKey: 张林 %q, 臧琳 %q, want both zanlin", a, b)
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Zhang San", "zhangsan"},
		{"ＺＨＡＮＧ　ＳＡＮ", "zhangsan"},
		{"zhāng sān", "zhangsan"},
		{"ZHĀNG", "zhang"},
		{"zha\u0304ng", "zhang"}, // combining macron
		{"xi'an", "xian"},
		{"xi’an", "xian"},
		{"ou-yang", "ouyang"},
		{"lǚ", "lv"}, {"lü", "lv"}, {"lu:", "lv"}, {"lv", "lv"}, {"LÜ", "lv"}, {"lu\u0308", "lv"},
		{"nǚ", "nv"},
		{"jü", "ju"}, {"qu:", "qu"}, {"xǖ", "xu"},
		{"张san", "zhangsan"},
		{"单雄信", "shanxiongxin"},
		{"  ", ""},
	}
	for _, tt := range tests {
		if got := Normalize(tt.in); got != tt.want {
			t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMatches(t *testing.T) {
	zhangsan := Full("张三")
	tests := []struct {
		query string
		want  bool
	}{
		{"zhangsan", true},
		{"zhang san", true},
		{"ZHANGSAN", true},
		{"Zhāng Sān", true},
		{"zs", true},
		{"z", true},
		{"zhang", true},
		{"zhangs", true},
		{"zhang s", true},
		{"zsan", true},
		{"zhs", true},
		{"张三", true},
		{"张s", true},
		{"zhangsi", false},
		{"sz", false},
		{"zha", false},
		{"san", false},
		{"zhangsana", false},
		{"zhangsanfeng", false},
		{"", false},
		{"  ", false},
	}
	for _, tt := range tests {
		if got := Matches(tt.query, zhangsan); got != tt.want {
			t.Errorf("Matches(%q, 张三) = %v, want %v", tt.query, got, tt.want)
		}
	}

	others := []struct {
		query string
		name  string
		want  bool
	}{
		{"shanxx", "单雄信", true},
		{"danxiongxin", "单雄信", false},
		{"oyx", "欧阳修", true},
		{"ouyang", "欧阳修", true},
		{"lvm", "吕明", true},
		{"lu:ming", "吕明", true},
		{"js", "John Smith", true},
		{"john smith", "John Smith", true},
		{"smith", "John Smith", false},
		{"xian", "西安", true}, // syllable boundaries need not be typed
		{"lin", "李娜", true},  // li + n: mixed forms are ambiguous by design
	}
	for _, tt := range others {
		if got := Matches(tt.query, Full(tt.name)); got != tt.want {
			t.Errorf("Matches(%q, %s) = %v, want %v", tt.query, tt.name, got, tt.want)
		}
	}

	// Queries longer than the stack buffer take the allocating path.
	long := slices.Repeat([]string{"zhang"}, 20)
	if !Matches(strings.Repeat("zhang", 20), long) || Matches(strings.Repeat("zhang", 21), long) {
		t.Error("long query mismatch")
	}
	// A long name of one-letter words stays linear (the fuzzer found the
	// quadratic case): 100 000 syllables must not take 10^10 steps.
	letters := slices.Repeat([]string{"a"}, 100_000)
	if !Matches(strings.Repeat("a", 100_000), letters) {
		t.Error("one-letter words not matched")
	}
}

func FuzzFull(f *testing.F) {
	for _, s := range []string{"张三", "欧阳修", "lu:", "ＺＨＡＮＧ", "John O'Brien", "买买提·艾力", "\xff单", "尉", "zha\u0304ng"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		syl := Full(s)
		for _, x := range syl {
			if x == "" {
				t.Fatalf("Full(%q) has an empty syllable: %q", s, syl)
			}
		}
		norm := Normalize(s)
		if again := Normalize(norm); again != norm {
			t.Fatalf("Normalize not idempotent: %q → %q → %q", s, norm, again)
		}
		if len(syl) > 0 && (!Matches(Key(syl), syl) || !Matches(Initials(syl), syl)) {
			t.Fatalf("%q: syllables %q not found by their key or initials", s, syl)
		}
		for _, x := range syl {
			Fuzzy(x)
		}
	})
}

func BenchmarkName(b *testing.B) {
	for b.Loop() {
		Name("欧阳", "修文")
		Name("", "单雄信")
	}
}

func BenchmarkMatch(b *testing.B) {
	q := NewQuery("zhang s")
	syl := Full("张三丰")
	b.ReportAllocs()
	for b.Loop() {
		if !q.Match(syl) {
			b.Fatal("no match")
		}
	}
}
