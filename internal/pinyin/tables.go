package pinyin

import "strings"

// The tables below are read-only after package initialisation. Readings are
// tone-less, lower-case, with ü written v.

// compoundSurnames are the two-character surnames (复姓) of 《百家姓》 plus
// 拓跋. They are tried before singleSurnames, so 尉迟 reads yu chi and not
// wei chi. 单于 (chan yu) is deliberately absent: in Full it would swallow
// every 单 (shan) whose given name starts with 于, a far more common case.
var compoundSurnames = map[string][2]string{
	"万俟": {"mo", "qi"},
	"司马": {"si", "ma"},
	"上官": {"shang", "guan"},
	"欧阳": {"ou", "yang"},
	"夏侯": {"xia", "hou"},
	"诸葛": {"zhu", "ge"},
	"闻人": {"wen", "ren"},
	"东方": {"dong", "fang"},
	"赫连": {"he", "lian"},
	"皇甫": {"huang", "fu"},
	"尉迟": {"yu", "chi"},
	"公羊": {"gong", "yang"},
	"澹台": {"tan", "tai"},
	"公冶": {"gong", "ye"},
	"宗政": {"zong", "zheng"},
	"濮阳": {"pu", "yang"},
	"淳于": {"chun", "yu"},
	"太叔": {"tai", "shu"},
	"申屠": {"shen", "tu"},
	"公孙": {"gong", "sun"},
	"仲孙": {"zhong", "sun"},
	"轩辕": {"xuan", "yuan"},
	"令狐": {"ling", "hu"},
	"钟离": {"zhong", "li"},
	"宇文": {"yu", "wen"},
	"长孙": {"zhang", "sun"},
	"慕容": {"mu", "rong"},
	"鲜于": {"xian", "yu"},
	"闾丘": {"lv", "qiu"},
	"司徒": {"si", "tu"},
	"司空": {"si", "kong"},
	"亓官": {"qi", "guan"},
	"司寇": {"si", "kou"},
	"仉督": {"zhang", "du"},
	"子车": {"zi", "ju"},
	"颛孙": {"zhuan", "sun"},
	"端木": {"duan", "mu"},
	"巫马": {"wu", "ma"},
	"公西": {"gong", "xi"},
	"漆雕": {"qi", "diao"},
	"乐正": {"yue", "zheng"},
	"壤驷": {"rang", "si"},
	"公良": {"gong", "liang"},
	"拓跋": {"tuo", "ba"},
	"夹谷": {"jia", "gu"},
	"宰父": {"zai", "fu"},
	"谷梁": {"gu", "liang"},
	"段干": {"duan", "gan"},
	"百里": {"bai", "li"},
	"东郭": {"dong", "guo"},
	"南门": {"nan", "men"},
	"呼延": {"hu", "yan"},
	"羊舌": {"yang", "she"},
	"微生": {"wei", "sheng"},
	"梁丘": {"liang", "qiu"},
	"左丘": {"zuo", "qiu"},
	"东门": {"dong", "men"},
	"西门": {"xi", "men"},
	"南宫": {"nan", "gong"},
	"第五": {"di", "wu"},
}

// singleSurnames are the one-character surnames whose surname reading is not
// the first (most frequent) reading go-pinyin gives the character, plus a few
// whose default happens to be right today but which are surnames first and
// must not change with a dictionary update (华, 任, 沈, 贾, 葛, 纪).
//
// 尉 alone is wei: 尉 (Wèi, e.g. 尉缭, 尉健行) is the common single surname;
// the yu reading belongs to the compound 尉迟.
var singleSurnames = map[rune]string{
	'单': "shan",
	'曾': "zeng",
	'解': "xie",
	'区': "ou",
	'仇': "qiu",
	'朴': "piao",
	'查': "zha",
	'繁': "po",
	'盖': "ge",
	'尉': "wei",
	'乐': "yue",
	'缪': "miao",
	'覃': "qin",
	'翟': "zhai",
	'折': "she",
	'员': "yun",
	'种': "chong",
	'秘': "bi",
	'宓': "mi",
	'召': "shao",
	'阚': "kan",
	'隗': "wei",
	'那': "na",
	'都': "du",
	'重': "chong",
	'柏': "bai",
	'薄': "bo",
	'臧': "zang",
	'郇': "huan",
	'黑': "he",
	'能': "nai",
	'眭': "sui",
	'句': "gou",
	'蕃': "pi",
	'过': "guo",
	'逄': "pang",
	'华': "hua",
	'任': "ren",
	'沈': "shen",
	'贾': "jia",
	'葛': "ge",
	'纪': "ji",
	'洗': "xian",
	'冼': "xian",
}

// givenNameReadings are characters whose usual reading in a given name is
// not go-pinyin's first reading: 长 in 长江/长青/长春 is chang (default
// zhang), 晟 is sheng (现代汉语词典 lists only shèng; default cheng), 莞 in
// names (莞尔) is wan (default guan). Characters whose name reading is
// genuinely split (朝, 重, 少, 乐) keep the default.
var givenNameReadings = map[rune]string{
	'长': "chang",
	'晟': "sheng",
	'莞': "wan",
}

// toneFolds maps the lower-case tone-marked vowels of pinyin to their base
// letter; every form of ü becomes v (see foldRune for ju/qu/xu/yu).
var toneFolds = map[rune]byte{
	'ā': 'a', 'á': 'a', 'ǎ': 'a', 'à': 'a',
	'ē': 'e', 'é': 'e', 'ě': 'e', 'è': 'e', 'ê': 'e', 'ế': 'e', 'ề': 'e',
	'ī': 'i', 'í': 'i', 'ǐ': 'i', 'ì': 'i',
	'ō': 'o', 'ó': 'o', 'ǒ': 'o', 'ò': 'o',
	'ū': 'u', 'ú': 'u', 'ǔ': 'u', 'ù': 'u',
	'ü': 'v', 'ǖ': 'v', 'ǘ': 'v', 'ǚ': 'v', 'ǜ': 'v',
	'ń': 'n', 'ň': 'n', 'ǹ': 'n',
	'ḿ': 'm',
}

// surnameReadings are the readings of the 120 most common surnames of the
// 2020 census ranking and of the compound surnames above, written as one
// word: enough to tell which word of a name written in letters (San Zhang,
// Zhang San) is the surname.
var surnameReadings = func() map[string]bool {
	m := map[string]bool{}
	for _, s := range strings.Fields(`wang li zhang liu chen yang huang zhao wu zhou xu sun ma zhu hu guo he lin
		gao luo zheng liang xie song tang han feng deng cao peng zeng xiao tian dong pan yuan cai jiang yu du ye
		cheng wei su lv ding ren lu yao shen zhong jiang cui tan lu fan wang liao shi jin wei jia xia fu fang zou
		xiong bai meng qin qiu hou jiang yin xue yan duan lei long li shi tao he mao hao gu gong shao wan qian yan
		tan wu dai mo kong xiang chang tang kang yi qiao lai wen niu hong ou shan xian ji guan ke zhan mou ni qi
		ning bao an ju yue geng lan zhai`) {
		m[s] = true
	}
	for _, r := range compoundSurnames {
		m[r[0]+r[1]] = true
	}
	return m
}()
