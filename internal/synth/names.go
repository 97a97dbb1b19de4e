package synth

import (
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"unicode/utf8"
)

// The tables below are read-only after package initialisation; they are data, not state.

// surnames are the 100 most common surnames in rank order (docs/synth.md cites the
// sources): ranks 1–20 with the shares published from the 2010 census, ranks 21–100
// in the order of the 公安部 ranking, their shares interpolated (see surnameShare).
var surnames = strings.Fields(`王 李 张 刘 陈 杨 黄 赵 周 吴 徐 孙 胡 朱 高 林 何 郭 马 罗
梁 宋 郑 谢 韩 唐 冯 于 董 萧 程 曹 袁 邓 许 傅 沈 曾 彭 吕
苏 卢 蒋 蔡 贾 丁 魏 薛 叶 阎 余 潘 杜 戴 夏 钟 汪 田 任 姜
范 方 石 姚 谭 廖 邹 熊 金 陆 郝 孔 白 崔 康 毛 邱 秦 江 史
顾 侯 邵 孟 龙 万 段 雷 钱 汤 尹 黎 易 常 武 乔 贺 赖 龚 文`)

// topSurnameShares are the published shares (%) of ranks 1–20 in the 2010 census.
var topSurnameShares = []float64{7.10, 6.96, 6.42, 5.16, 4.26, 2.97, 2.16, 2.03, 1.88, 1.78,
	1.43, 1.39, 1.34, 1.16, 1.14, 1.09, 1.05, 1.00, 0.97, 0.96}

// surnameShare is the share (%) of the surname of rank i (0-based). Ranks 21–100
// decay geometrically from 0.96% to 0.13%, which makes the top 100 cover about
// 85% of the population, the total the census and 公安部 reports give.
func surnameShare(i int) float64 {
	if i < len(topSurnameShares) {
		return topSurnameShares[i]
	}
	return 0.96 * math.Pow(0.13/0.96, float64(i-19)/80)
}

// surnameCum is the cumulative share of surnames, for a binary-search pick.
var surnameCum = func() []float64 {
	c := make([]float64, len(surnames))
	sum := 0.0
	for i := range surnames {
		sum += surnameShare(i)
		c[i] = sum
	}
	return c
}()

func pickSurname(r *rand.Rand) string {
	x := r.Float64() * surnameCum[len(surnameCum)-1]
	return surnames[sort.SearchFloat64s(surnameCum, x)]
}

// era is a span of birth years with its fashion in given names: two-character
// and one-character names by sex, and the share of one-character names.
type era struct {
	until            int // last birth year of the era
	single           float64
	male2, male1     []string
	female2, female1 []string
}

// eras are in birth-year order; the last one is open-ended. One-character names
// peak among people born 1960–2000 and fall after, about a quarter overall.
var eras = []era{
	{1959, 0.18,
		strings.Fields("建国 国华 志明 德明 保国 永福 金生 福生 文华 春生 振华 国庆 玉林 长海 德胜"),
		strings.Fields("林 福 明 山 生 华"),
		strings.Fields("秀英 桂英 秀兰 桂兰 玉兰 玉珍 凤英 淑珍 秀珍 玉梅 桂芳 淑华 凤兰 秀芳 翠英"),
		strings.Fields("英 兰 珍 梅 芳 凤")},
	{1979, 0.30,
		strings.Fields("建军 卫东 卫国 红兵 建平 国强 志刚 志军 海涛 永强 文斌 晓东 海波 立新 春雷"),
		strings.Fields("军 勇 强 平 刚 斌 伟 磊 涛 波 峰"),
		strings.Fields("红梅 丽华 秀红 玉华 春梅 红霞 丽萍 秀云 卫红 海燕 晓红 春燕 艳红 丽娟 美玲"),
		strings.Fields("红 萍 霞 华 梅 燕 丽 敏 艳 娟 芳")},
	{1999, 0.30,
		strings.Fields("志伟 俊杰 文杰 振宇 晓明 小龙 鹏飞 明亮 宇航 浩然 家豪 文博 天宇 明轩 晨阳"),
		strings.Fields("伟 磊 鹏 杰 超 浩 亮 辉 帅 宇 鑫 阳 凯"),
		strings.Fields("晓燕 丽丽 雪梅 文静 婷婷 丹丹 欣怡 佳怡 雨婷 梦婷 思雨 佳琪 梦瑶 雨欣 晓婷"),
		strings.Fields("静 婷 玲 丹 倩 洁 颖 莉 雪 琳 慧 娜 悦")},
	{math.MaxInt, 0.15,
		strings.Fields("子豪 浩然 宇轩 俊熙 梓豪 浩宇 子轩 一鸣 子墨 梓睿 一诺 沐宸 宇泽 奕辰 睿泽 锦程"),
		strings.Fields("睿 辰 宸 泽 轩 航 哲 博 昊 晨"),
		strings.Fields("欣怡 梓涵 雨涵 诗涵 子涵 梦琪 可欣 雨萱 欣妍 梓萱 一诺 依诺 可馨 雨桐 若汐 思彤"),
		strings.Fields("涵 萱 琪 欣 怡 妍 彤 瑶 璐 诺")},
}

// pickGivenName draws a given name in the fashion of the birth year.
func pickGivenName(r *rand.Rand, sex string, birthYear int) string {
	e := &eras[len(eras)-1]
	for i := range eras {
		if birthYear <= eras[i].until {
			e = &eras[i]
			break
		}
	}
	one := r.Float64() < e.single
	var list []string
	switch {
	case sex == "male" && one:
		list = e.male1
	case sex == "male":
		list = e.male2
	case one:
		list = e.female1
	default:
		list = e.female2
	}
	return list[r.IntN(len(list))]
}

// splitName returns the surname and given name: every generated surname is one
// character (the top 100 has no compound surname).
func splitName(name string) (family, given string) {
	_, n := utf8.DecodeRuneInString(name)
	return name[:n], name[n:]
}

// pinyin is the toneless Hanyu Pinyin of every character names are made of
// (surnames, given names and their homophones), so any name can be romanised.
// ü is written yu as on passports (吕 Lyu).
var pinyin = pairs(`王 wang 李 li 张 zhang 刘 liu 陈 chen 杨 yang 黄 huang 赵 zhao 周 zhou 吴 wu
徐 xu 孙 sun 胡 hu 朱 zhu 高 gao 林 lin 何 he 郭 guo 马 ma 罗 luo 梁 liang 宋 song 郑 zheng
谢 xie 韩 han 唐 tang 冯 feng 于 yu 董 dong 萧 xiao 程 cheng 曹 cao 袁 yuan 邓 deng 许 xu
傅 fu 沈 shen 曾 zeng 彭 peng 吕 lyu 苏 su 卢 lu 蒋 jiang 蔡 cai 贾 jia 丁 ding 魏 wei
薛 xue 叶 ye 阎 yan 余 yu 潘 pan 杜 du 戴 dai 夏 xia 钟 zhong 汪 wang 田 tian 任 ren
姜 jiang 范 fan 方 fang 石 shi 姚 yao 谭 tan 廖 liao 邹 zou 熊 xiong 金 jin 陆 lu 郝 hao
孔 kong 白 bai 崔 cui 康 kang 毛 mao 邱 qiu 秦 qin 江 jiang 史 shi 顾 gu 侯 hou 邵 shao
孟 meng 龙 long 万 wan 段 duan 雷 lei 钱 qian 汤 tang 尹 yin 黎 li 易 yi 常 chang 武 wu
乔 qiao 贺 he 赖 lai 龚 gong 文 wen
建 jian 国 guo 华 hua 志 zhi 明 ming 德 de 保 bao 永 yong 福 fu 生 sheng 春 chun 振 zhen
庆 qing 玉 yu 长 chang 海 hai 胜 sheng 山 shan 秀 xiu 英 ying 桂 gui 兰 lan 珍 zhen
凤 feng 淑 shu 梅 mei 芳 fang 翠 cui 军 jun 卫 wei 东 dong 红 hong 兵 bing 平 ping
强 qiang 刚 gang 斌 bin 涛 tao 波 bo 立 li 新 xin 伟 wei 磊 lei 峰 feng 丽 li 萍 ping
霞 xia 云 yun 燕 yan 晓 xiao 娟 juan 美 mei 玲 ling 敏 min 艳 yan 俊 jun 杰 jie 宇 yu
小 xiao 鹏 peng 飞 fei 亮 liang 航 hang 浩 hao 然 ran 家 jia 豪 hao 博 bo 天 tian
轩 xuan 晨 chen 阳 yang 超 chao 辉 hui 帅 shuai 鑫 xin 凯 kai 静 jing 婷 ting 丹 dan
欣 xin 怡 yi 佳 jia 雨 yu 梦 meng 思 si 琪 qi 瑶 yao 倩 qian 洁 jie 颖 ying 莉 li
雪 xue 琳 lin 慧 hui 娜 na 悦 yue 子 zi 熙 xi 梓 zi 一 yi 鸣 ming 墨 mo 睿 rui 诺 nuo
沐 mu 宸 chen 泽 ze 奕 yi 锦 jin 哲 zhe 昊 hao 涵 han 诗 shi 可 ke 萱 xuan 妍 yan
依 yi 馨 xin 桐 tong 若 ruo 汐 xi 彤 tong 璐 lu
铭 ming 力 li 桦 hua 玮 wei 炜 wei 婧 jing 靖 jing 君 jun 钧 jun 亭 ting 铃 ling
凌 ling 韬 tao 皓 hao 晖 hui 鹃 juan 宏 hong 鸿 hong 鹰 ying 岚 lan 玫 mei 彦 yan
侠 xia 蔷 qiang 勇 yong 朋 peng 锋 feng 丰 feng 语 yu 宣 xuan 寒 han 宜 yi 紫 zi
辰 chen 瑞 rui 丝 si 恺 kai`)

// homophones are groups of name characters with the same pinyin: a clerk who
// hears a name may write any of them.
var homophones = groupsOf(`明铭鸣 丽莉立力 华桦 伟玮炜 静婧靖 军君钧 杰洁 婷亭 玲铃凌 涛韬 浩昊皓
辉晖 娟鹃 萍平 芳方 红宏鸿 英鹰颖 兰岚 梅玫 燕艳彦 霞侠 强蔷 永勇 磊雷 鹏朋 峰锋丰
宇雨语 轩萱宣 涵寒 欣馨新 怡宜 梓子紫 晨辰宸 睿瑞 一依 琳林 博波 彤桐 佳家 思丝 雪薛 凯恺`)

// lookalikes maps a name character to one that looks like it (形近字), the usual
// typing or reading slip.
var lookalikes = pairs(`玉 王 凤 风 平 乎 建 健 桂 挂 华 毕 芳 方 玲 铃 婷 停 浩 皓 辉 晖 红 虹
明 朋 宇 字 琳 淋 怡 恰 涵 函 萱 宣 梅 海 英 荚 霞 暇 娟 绢 伟 纬 峰 蜂 鹏 朋 勇 涌
珍 诊 子 孑 东 车 国 固 丽 两 龙 尤 天 夭 云 去 林 材 春 舂 欣 钦 思 恩 雪 雷 佳 住
博 搏 军 车 兰 兰 晨 晟 杰 述 强 蛋 刚 冈 斌 赋 亮 高 静 净 敏 繁 磊 晶 燕 熊`)

// traditional maps simplified name characters to their traditional forms where
// they differ (as written in Hong Kong, Macao or Taiwan, or by older people).
var traditional = pairs(`华 華 丽 麗 国 國 东 東 伟 偉 军 軍 红 紅 凤 鳳 兰 蘭 艳 艷 刚 剛 强 強
辉 輝 涛 濤 鹏 鵬 静 靜 杰 傑 晓 曉 轩 軒 诺 諾 马 馬 刘 劉 陈 陳 杨 楊 黄 黃 赵 趙 吴 吳
张 張 孙 孫 郑 鄭 许 許 韩 韓 邓 鄧 冯 馮 苏 蘇 卢 盧 蒋 蔣 贾 賈 叶 葉 阎 閻 钟 鍾 龙 龍
万 萬 汤 湯 龚 龔 罗 羅 谢 謝 顾 顧 钱 錢 邹 鄒 陆 陸 乔 喬 贺 賀 赖 賴 卫 衛 庆 慶 长 長
胜 勝 鸣 鳴 飞 飛 阳 陽 帅 帥 凯 凱 颖 穎 梦 夢 诗 詩 锦 錦 泽 澤 萧 蕭 吕 呂 谭 譚 龚 龔
兵 兵 宁 寧 云 雲 娟 娟 义 義 秀 秀 春 春 玲 玲 萍 萍 霞 霞 敏 敏 燕 燕 浩 浩 宇 宇 欣 欣
涵 涵 萱 萱 梓 梓 睿 睿 宸 宸 琳 琳 洁 潔 莉 莉 倩 倩 亮 亮 鑫 鑫 超 超 磊 磊 峰 峰 波 波
俊 俊 宝 寶 贤 賢 丰 豐 钧 鈞 韬 韜 鸿 鴻 鹰 鷹 岚 嵐 铭 銘 紫 紫 丝 絲`)

// pairs reads whitespace-separated key/value pairs of a one-character key into
// a map; pairs whose value equals the key are dropped (no difference to make).
func pairs(s string) map[rune]string {
	f := strings.Fields(s)
	m := make(map[rune]string, len(f)/2)
	for i := 0; i+1 < len(f); i += 2 {
		k, _ := utf8.DecodeRuneInString(f[i])
		if f[i] != f[i+1] {
			m[k] = f[i+1]
		}
	}
	return m
}

// groupsOf maps each character of whitespace-separated groups to its group.
func groupsOf(s string) map[rune][]rune {
	m := map[rune][]rune{}
	for _, g := range strings.Fields(s) {
		rs := []rune(g)
		for _, c := range rs {
			m[c] = rs
		}
	}
	return m
}

// romanise writes a name in pinyin as on a passport: "Wang Xiaoming". ok is
// false when a character has no entry.
func romanise(name string) (string, bool) {
	family, given := splitName(name)
	var b strings.Builder
	for i, part := range []string{family, given} {
		if i > 0 {
			b.WriteByte(' ')
		}
		first := true
		for _, c := range part {
			p, ok := pinyin[c]
			if !ok {
				return "", false
			}
			if first {
				b.WriteString(strings.ToUpper(p[:1]))
				b.WriteString(p[1:])
				first = false
			} else {
				b.WriteString(p)
			}
		}
	}
	return b.String(), true
}
