package main

import (
	"fmt"
	"os"
	"strings"
)

// The docs mark each generated section with a pair of HTML comments:
//
//	<!-- bench:NAME -->
//	...generated...
//	<!-- /bench:NAME -->
//
// benchreport docs rewrites what is between them, and nothing else. A page whose
// name contains "zh-CN" gets the Chinese headings.

func docsCmd(dir string, files []string) error {
	r, err := loadRun(dir)
	if err != nil {
		return err
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		lang := "en"
		if strings.Contains(f, "zh-CN") {
			lang = "zh"
		}
		out, n, err := rewrite(string(data), func(name string) (string, bool) {
			s := section(r, name, lang)
			return s, s != ""
		})
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if n == 0 {
			return fmt.Errorf("%s: no <!-- bench:NAME --> section", f)
		}
		if err := os.WriteFile(f, []byte(out), 0o644); err != nil {
			return err
		}
		fmt.Printf("%s: %d sections rewritten\n", f, n)
	}
	return nil
}

// rewrite replaces the body of every marked section of doc.
func rewrite(doc string, gen func(name string) (string, bool)) (string, int, error) {
	var b strings.Builder
	n := 0
	for {
		i := markerAt(doc)
		if i < 0 {
			b.WriteString(doc)
			return b.String(), n, nil
		}
		end := strings.Index(doc[i:], " -->")
		if end < 0 {
			return "", n, fmt.Errorf("unterminated marker at byte %d", i)
		}
		name := doc[i+len("<!-- bench:") : i+end]
		open := doc[:i+end+len(" -->")]
		closing := "<!-- /bench:" + name + " -->"
		j := strings.Index(doc[len(open):], "\n"+closing)
		if j >= 0 {
			j++
		}
		if j < 0 {
			return "", n, fmt.Errorf("section %s has no %s", name, closing)
		}
		body, ok := gen(name)
		if !ok {
			return "", n, fmt.Errorf("unknown section %s", name)
		}
		b.WriteString(open)
		b.WriteString("\n\n")
		b.WriteString(strings.TrimRight(body, "\n"))
		b.WriteString("\n\n")
		b.WriteString(closing)
		doc = doc[len(open)+j+len(closing):]
		n++
	}
}

// markerAt returns the index of the first section marker that starts a line, or -1:
// a marker quoted inside a line (as in this page's prose) is not one.
func markerAt(doc string) int {
	const m = "<!-- bench:"
	for off := 0; ; {
		i := strings.Index(doc[off:], m)
		if i < 0 {
			return -1
		}
		if off+i == 0 || doc[off+i-1] == '\n' {
			return off + i
		}
		off += i + len(m)
	}
}

// tr translates the generated headings; t.lang() is its language.
type tr func(string) string

const langKey = "\x00lang"

func (t tr) lang() string { return t(langKey) }

func translator(lang string) tr {
	return func(s string) string {
		if s == langKey {
			return lang
		}
		if lang == "zh" {
			if v, ok := zh[s]; ok {
				return v
			}
		}
		return s
	}
}

var zh = map[string]string{
	"run":                                 "运行",
	"date":                                "日期",
	"commit":                              "提交",
	"command":                             "命令",
	"machine":                             "机器",
	"rounds":                              "轮次",
	"wall time":                           "墙钟时间",
	"load average (start → end)":          "平均负载（开始 → 结束）",
	"idle process":                        "空闲进程",
	"workload (time/op, lower is better)": "负载（每次操作耗时，越低越好）",
	"raw floor":                           "原始下限",
	"(same L1)":                           "（同一 L1）",
	" (%.0f%% L1 hits)":                   "（L1 命中 %.0f%%）",
	"loads":                               "次加载",
	"load":                                "次加载",
	"round trips":                         "次往返",
	"workload":                            "负载",
	"best peer":                           "最快同类",
	"accelerator (rueidis) ÷ best peer":   "accelerator (rueidis) ÷ 最快同类",
	"accelerator (go-redis) ÷ best peer":  "accelerator (go-redis) ÷ 最快同类",
	"accelerator (rueidis) ÷ raw floor":   "accelerator (rueidis) ÷ 原始下限",
	"accelerator (go-redis) ÷ raw floor":  "accelerator (go-redis) ÷ 原始下限",
	"library":                             "库",
	"instructions/op":                     "指令/次",
	"allocs/op (gate)":                    "分配/次（门禁）",
	"allocs/op (-benchmem)":               "分配/次（-benchmem）",
	"round trips/op":                      "往返/次",
	"Redis commands/op":                   "Redis 命令/次",
	"Redis CPU µs/op":                     "Redis CPU µs/次",
	" (floor)":                            "（下限）",
	"time/op":                             "耗时/次",
	"B/op":                                "B/次",
	"allocs/op":                           "分配/次",
	"loads/op":                            "加载/次",
	"L1 hit ratio":                        "L1 命中率",
	"target":                              "目标",
	"measured":                            "实测",
	"met":                                 "达成",
	"**no**":                              "**否**",
	"yes":                                 "是",
	"not measured":                        "未测量",
	"%s, %s: ≤ %.1f× the best peer's time":                    "%s，%s：≤ 最快同类耗时的 %.1f 倍",
	"miss + load + write-back":                                "未命中 + 加载 + 回写",
	"MGet 100, all missing":                                   "MGet 100，全部缺失",
	"MGet 100, all in L2":                                     "MGet 100，全部在 L2",
	"stampede, 1,000 readers":                                 "击穿，1,000 个读者",
	", ≤ 2 round trips":                                       "，≤ 2 次往返",
	"; %s round trips":                                        "；%s 次往返",
	"%s, %s: ≤ 1.2× raw MGET + decode":                        "%s，%s：≤ 原始 MGET + 解码的 1.2 倍",
	"L1 hit: ≤ 1.3× raw otter in instructions, 0 allocations": "L1 命中：指令数 ≤ 原始 otter 的 1.3 倍，0 次分配",
	"%.2f× (%s vs %s instructions), %s allocations":           "%.2f 倍（%s 对 %s 条指令），%s 次分配",
	"L2 hit: ≤ 3,000 instructions and ≤ 2 allocations over the raw GET + decode": "L2 命中：比原始 GET + 解码多 ≤ 3,000 条指令、≤ 2 次分配",
	"in-memory L2: +%s instructions (%s vs %s), +%s allocations (%s vs %s)":      "内存中的 L2：多 %s 条指令（%s 对 %s），多 %s 次分配（%s 对 %s）",
	"; %s: +%s allocations (%s vs %s)":                                           "；%s：多 %s 次分配（%s 对 %s）",
	"L2 hit, 64 goroutines, %s: throughput ≥ 1.5× the best peer's":               "L2 命中，64 个 goroutine，%s：吞吐 ≥ 最快同类的 1.5 倍",
	"%.2f× (%.2f–%.2f) %s":                                                       "%.2f 倍（%.2f–%.2f）%s",
	"an idle process with one open cache: under 1 ms of CPU a second":            "打开一个缓存的空闲进程：每秒 CPU 低于 1 ms",
	"Medians over %s interleaved rounds with the 95%% confidence interval of the median (±), 100 B values; %s, %s, commit %s, %s, made by `%s`.": "%s 轮交错运行的中位数，± 为中位数的 95%% 置信区间，100 B 的值；%s，%s，提交 %s，%s，由 `%s` 生成。",
}
