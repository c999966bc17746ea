package accelerator

// The documentation is kept in two languages: every English page (README.md and
// docs/*.md) has a Simplified Chinese page (README.zh-CN.md and docs/zh/*.zh-CN.md)
// with the same skeleton. The tests below check that skeleton with a small Markdown
// scanner of their own:
//
//   - every English page has its Chinese page, and every Chinese page its English one;
//   - the same headings: as many, at the same levels, in the same order;
//   - the same fenced code blocks, in the same order, with identical info strings and
//     contents (code, identifiers and commands are not translated);
//   - the same links, in any order: an external URL identical; a relative link to the
//     Chinese counterpart of the English link's target where one exists (else to the
//     same file); an anchor to the heading at the same position of the target; the
//     two pages' links to each other match;
//   - the same tables, in the same order, with as many rows and columns.
//
// A second test checks that every relative link in either language lands on a file
// and, for a #fragment, on a heading, with anchors computed as GitHub computes them
// (Chinese headings included). When a check fails, the message names the Chinese
// file and line, the element, and the English side to copy from.

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// TestDocsParity fails when an English page has no Chinese counterpart (or the other
// way round), or when the two differ in headings, code blocks, links or tables.
func TestDocsParity(t *testing.T) {
	for _, p := range checkDocsParity(os.DirFS(".")) {
		t.Error(p)
	}
}

// TestDocsLinksResolve fails on a relative link, in either language, to a file that
// does not exist or to an anchor that no heading of the target produces.
func TestDocsLinksResolve(t *testing.T) {
	for _, p := range checkDocLinks(os.DirFS(".")) {
		t.Error(p)
	}
}

// TestParityCheckerOnFixtures shows that the checkers pass a page pair in step and
// fail, with a message naming the file and the difference, on each kind of drift.
func TestParityCheckerOnFixtures(t *testing.T) {
	cases := []struct {
		dir  string
		want []string // substrings, each of which some problem must contain; none: no problem
	}{
		{"in-step", nil},
		{"heading-changed", []string{"docs/zh/guide.zh-CN.md", "heading 2", "level 2", "level 3"}},
		{"heading-missing", []string{"docs/zh/guide.zh-CN.md", "3 headings", "2 headings"}},
		{"code-changed", []string{"README.zh-CN.md", "code block 1", "line 2 of the block"}},
		{"code-missing", []string{"docs/zh/guide.zh-CN.md", "2 code blocks", "1 code blocks", "the block at docs/guide.md:19 has no copy"}},
		{"link-changed", []string{"README.zh-CN.md:5: link docs/zh/other.zh-CN.md (to docs/other.md) has no counterpart", "no link matches README.md:5 link docs/guide.md"}},
		{"link-to-english", []string{"README.zh-CN.md:5: link docs/guide.md goes to the English page docs/guide.md; use its Chinese counterpart docs/zh/guide.zh-CN.md"}},
		{"table-shape", []string{"docs/zh/guide.zh-CN.md", "table 1", "3×2", "2×2"}},
		{"page-missing", []string{"docs/other.md has no Chinese page docs/zh/other.zh-CN.md"}},
		{"orphan-page", []string{"docs/zh/gone.zh-CN.md has no English page docs/gone.md"}},
		{"links-reordered", nil},
		{"anchor-changed", []string{"README.zh-CN.md:5: link docs/zh/guide.zh-CN.md#第一步 (to docs/guide.md, heading 2 \"First step\") has no counterpart", "no link matches README.md:5 link docs/guide.md#second-step (to docs/guide.md, heading 3 \"Second step\")"}},
	}
	for _, tc := range cases {
		t.Run(tc.dir, func(t *testing.T) {
			problems := checkDocsParity(os.DirFS(filepath.Join("testdata", "docsparity", tc.dir)))
			if tc.want == nil {
				if len(problems) > 0 {
					t.Fatalf("want no problem, got:\n%s", strings.Join(problems, "\n"))
				}
				return
			}
			if len(problems) == 0 {
				t.Fatalf("want a problem mentioning %q, got none", tc.want)
			}
			all := strings.Join(problems, "\n")
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("no problem mentions %q; got:\n%s", w, all)
				}
			}
		})
	}
}

// TestLinkCheckerOnFixtures shows that the link checker passes good links (Chinese
// anchors included) and names each broken one.
func TestLinkCheckerOnFixtures(t *testing.T) {
	if p := checkDocLinks(os.DirFS(filepath.Join("testdata", "docsparity", "in-step"))); len(p) > 0 {
		t.Fatalf("in-step: want no problem, got:\n%s", strings.Join(p, "\n"))
	}
	p := checkDocLinks(os.DirFS(filepath.Join("testdata", "docsparity", "links-broken")))
	all := strings.Join(p, "\n")
	for _, w := range []string{
		"README.md:5: link nowhere.md: no such file",
		"README.md:6: link docs/guide.md#no-such-heading: no heading of docs/guide.md has the anchor",
		"README.zh-CN.md:7: link #不存在: no heading of README.zh-CN.md has the anchor",
	} {
		if !strings.Contains(all, w) {
			t.Errorf("no problem reads %q; got:\n%s", w, all)
		}
	}
	if len(p) != 3 {
		t.Errorf("want 3 problems, got %d:\n%s", len(p), all)
	}
}

func TestGitHubSlug(t *testing.T) {
	cases := []struct{ heading, want string }{
		{"Findings: where accelerator loses, and why", "findings-where-accelerator-loses-and-why"},
		{"Keys in Redis", "keys-in-redis"},
		{"`RefreshAhead` and `StaleTTL`", "refreshahead-and-stalettl"},
		{"Options and their defaults", "options-and-their-defaults"},
		{"错误类别", "错误类别"},
		{"Redis 中的键", "redis-中的键"},
		{"发现：accelerator 在哪里落后，以及原因", "发现accelerator-在哪里落后以及原因"},
		{"L1 / L2（两层）", "l1--l2两层"},
		{"snake_case and [a link](x.md)", "snake_case-and-a-link"},
	}
	for _, tc := range cases {
		if got := githubSlug(tc.heading); got != tc.want {
			t.Errorf("githubSlug(%q) = %q, want %q", tc.heading, got, tc.want)
		}
	}
}

// A page pair: the English page and its Chinese counterpart, both relative to the
// repository root (slash-separated).
//
//	README.md       ↔ README.zh-CN.md
//	docs/<name>.md  ↔ docs/zh/<name>.zh-CN.md

// zhPageOf returns the Chinese counterpart of an English page, or "" for a path that
// is not an English page.
func zhPageOf(en string) string {
	if en == "README.md" {
		return "README.zh-CN.md"
	}
	dir, file := path.Split(en)
	if dir != "docs/" || !strings.HasSuffix(file, ".md") || strings.HasSuffix(file, ".zh-CN.md") {
		return ""
	}
	return "docs/zh/" + strings.TrimSuffix(file, ".md") + ".zh-CN.md"
}

// enPageOf returns the English counterpart of a Chinese page, or "" for a path that
// is not a Chinese page.
func enPageOf(zh string) string {
	if zh == "README.zh-CN.md" {
		return "README.md"
	}
	dir, file := path.Split(zh)
	if dir != "docs/zh/" || !strings.HasSuffix(file, ".zh-CN.md") {
		return ""
	}
	return "docs/" + strings.TrimSuffix(file, ".zh-CN.md") + ".md"
}

// docPages lists the English and the Chinese pages of a tree.
func docPages(fsys fs.FS) (en, zh []string) {
	if fileExists(fsys, "README.md") {
		en = append(en, "README.md")
	}
	if fileExists(fsys, "README.zh-CN.md") {
		zh = append(zh, "README.zh-CN.md")
	}
	enDocs, _ := fs.Glob(fsys, "docs/*.md")
	zhDocs, _ := fs.Glob(fsys, "docs/zh/*.zh-CN.md")
	return append(en, enDocs...), append(zh, zhDocs...)
}

func fileExists(fsys fs.FS, name string) bool {
	_, err := fs.Stat(fsys, name)
	return err == nil
}

// checkDocsParity compares every page pair of the tree and returns one line per
// problem, each naming the Chinese file, the element and both sides.
func checkDocsParity(fsys fs.FS) []string {
	var problems []string
	en, zh := docPages(fsys)
	for _, e := range en {
		z := zhPageOf(e)
		if !slices.Contains(zh, z) {
			problems = append(problems, fmt.Sprintf("%s has no Chinese page %s: translate it (same headings, code blocks, links and tables)", e, z))
			continue
		}
		problems = append(problems, comparePages(fsys, e, z)...)
	}
	for _, z := range zh {
		if e := enPageOf(z); !slices.Contains(en, e) {
			problems = append(problems, fmt.Sprintf("%s has no English page %s: remove it or restore the English page", z, e))
		}
	}
	return problems
}

// comparePages compares the skeletons of an English page and its Chinese page.
func comparePages(fsys fs.FS, en, zh string) []string {
	ed, err := readDoc(fsys, en)
	if err != nil {
		return []string{err.Error()}
	}
	zd, err := readDoc(fsys, zh)
	if err != nil {
		return []string{err.Error()}
	}
	var p []string
	p = append(p, compareHeadings(en, zh, ed, zd)...)
	p = append(p, compareCode(en, zh, ed, zd)...)
	p = append(p, compareLinks(fsys, en, zh, ed, zd)...)
	p = append(p, compareTables(en, zh, ed, zd)...)
	return p
}

func compareHeadings(en, zh string, ed, zd mdDoc) []string {
	if len(ed.headings) != len(zd.headings) {
		return []string{fmt.Sprintf("%s: %d headings, but %s has %d headings; first difference: %s",
			zh, len(zd.headings), en, len(ed.headings), firstHeadingDiff(ed.headings, zd.headings))}
	}
	var p []string
	for i := range ed.headings {
		e, z := ed.headings[i], zd.headings[i]
		if e.level != z.level {
			p = append(p, fmt.Sprintf("%s:%d: heading %d %q is level %d, but in %s:%d %q is level %d",
				zh, z.line, i+1, z.text, z.level, en, e.line, e.text, e.level))
		}
	}
	return p
}

func firstHeadingDiff(e, z []mdHeading) string {
	for i := range min(len(e), len(z)) {
		if e[i].level != z[i].level {
			return fmt.Sprintf("heading %d: English %q (line %d, level %d), Chinese %q (line %d, level %d)",
				i+1, e[i].text, e[i].line, e[i].level, z[i].text, z[i].line, z[i].level)
		}
	}
	if len(e) > len(z) {
		return fmt.Sprintf("English heading %d %q (line %d) has no Chinese match", len(z)+1, e[len(z)].text, e[len(z)].line)
	}
	return fmt.Sprintf("Chinese heading %d %q (line %d) has no English match", len(e)+1, z[len(e)].text, z[len(e)].line)
}

func compareCode(en, zh string, ed, zd mdDoc) []string {
	if len(ed.code) != len(zd.code) {
		return []string{fmt.Sprintf("%s: %d code blocks, but %s has %d code blocks; %s; copy them unchanged",
			zh, len(zd.code), en, len(ed.code), firstUnmatchedCode(en, zh, ed.code, zd.code))}
	}
	var p []string
	for i := range ed.code {
		e, z := ed.code[i], zd.code[i]
		if e.info != z.info {
			p = append(p, fmt.Sprintf("%s:%d: code block %d is fenced as %q, but in %s:%d as %q",
				zh, z.line, i+1, z.info, en, e.line, e.info))
		}
		if e.body == z.body {
			continue
		}
		n, el, zl := firstLineDiff(e.body, z.body)
		p = append(p, fmt.Sprintf("%s:%d: code block %d differs from %s:%d at line %d of the block: English %q, Chinese %q",
			zh, z.line, i+1, en, e.line, n, el, zl))
	}
	return p
}

// firstUnmatchedCode names the first code block of either page that has no identical
// block in the other.
func firstUnmatchedCode(en, zh string, e, z []mdCode) string {
	has := func(blocks []mdCode, c mdCode) bool {
		return slices.ContainsFunc(blocks, func(b mdCode) bool { return b.body == c.body && b.info == c.info })
	}
	for _, c := range e {
		if !has(z, c) {
			return fmt.Sprintf("the block at %s:%d has no copy in the Chinese page", en, c.line)
		}
	}
	for _, c := range z {
		if !has(e, c) {
			return fmt.Sprintf("the block at %s:%d has no English original", zh, c.line)
		}
	}
	return "the blocks differ in number only"
}

func firstLineDiff(a, b string) (n int, la, lb string) {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range max(len(al), len(bl)) {
		la, lb = "", ""
		if i < len(al) {
			la = al[i]
		}
		if i < len(bl) {
			lb = bl[i]
		}
		if la != lb || i >= len(al) || i >= len(bl) {
			return i + 1, la, lb
		}
	}
	return 0, "", ""
}

// compareLinks checks that both pages link to the same places, in any order (a
// translation may reorder a sentence): a relative link of the Chinese page must reach
// the Chinese counterpart of what an English link reaches (or the same file, when that
// has no counterpart), an anchor the heading at the same position, and an external
// link must be identical. The two pages' links to each other (the language switch)
// match.
func compareLinks(fsys fs.FS, en, zh string, ed, zd mdDoc) []string {
	var p []string
	want := map[string][]mdLink{}
	for _, l := range ed.links {
		k := linkKey(fsys, en, zh, en, l.target)
		want[k] = append(want[k], l)
	}
	for _, l := range zd.links {
		if msg := englishTarget(fsys, zh, l.target); msg != "" {
			p = append(p, fmt.Sprintf("%s:%d: link %s %s", zh, l.line, l.target, msg))
		}
		k := linkKey(fsys, en, zh, zh, l.target)
		if len(want[k]) == 0 {
			p = append(p, fmt.Sprintf("%s:%d: link %s (%s) has no counterpart among the links of %s",
				zh, l.line, l.target, describeKey(fsys, k), en))
			continue
		}
		want[k] = want[k][1:]
	}
	for _, l := range ed.links {
		k := linkKey(fsys, en, zh, en, l.target)
		if len(want[k]) == 0 {
			continue
		}
		r := want[k][0]
		want[k] = want[k][1:]
		p = append(p, fmt.Sprintf("%s: no link matches %s:%d link %s (%s); add it to the Chinese page",
			zh, en, r.line, r.target, describeKey(fsys, k)))
	}
	return p
}

// linkKey names where a link of page (en or zh) goes, the same way for both
// languages: an external URL as it is; a file as its English path; an anchor as the
// position of its heading; a link between the two pages of the pair as "switch".
func linkKey(fsys fs.FS, en, zh, page, target string) string {
	if isExternal(target) {
		return target
	}
	file, frag := resolveLink(page, target)
	if (page == en && file == zh || page == zh && file == en) && frag == "" {
		return "switch"
	}
	name := file
	if e := enPageOf(file); e != "" {
		name = e
	}
	if frag == "" {
		return name
	}
	if i := anchorIndex(fsys, file, frag); i >= 0 {
		return fmt.Sprintf("%s#heading-%d", name, i+1)
	}
	return name + "#" + frag
}

// describeKey says where a link key goes, naming an anchor's English heading.
func describeKey(fsys fs.FS, k string) string {
	if k == "switch" {
		return "the link between the two languages"
	}
	file, frag, ok := strings.Cut(k, "#heading-")
	if !ok {
		return "to " + k
	}
	var i int
	fmt.Sscan(frag, &i)
	d, err := readDoc(fsys, file)
	if err != nil || i < 1 || i > len(d.headings) {
		return "to " + k
	}
	return fmt.Sprintf("to %s, heading %d %q", file, i, d.headings[i-1].text)
}

// englishTarget says when a Chinese page links to an English page that has a Chinese
// counterpart.
func englishTarget(fsys fs.FS, zh, target string) string {
	if isExternal(target) {
		return ""
	}
	file, _ := resolveLink(zh, target)
	want := zhPageOf(file)
	if want == "" || file == enPageOf(zh) || !fileExists(fsys, want) {
		return ""
	}
	return fmt.Sprintf("goes to the English page %s; use its Chinese counterpart %s", file, want)
}

// anchorIndex returns the position of the heading of file whose slug is frag, or -1.
func anchorIndex(fsys fs.FS, file, frag string) int {
	d, err := readDoc(fsys, file)
	if err != nil {
		return -1
	}
	return slices.Index(d.slugs(), frag)
}

func compareTables(en, zh string, ed, zd mdDoc) []string {
	if len(ed.tables) != len(zd.tables) {
		return []string{fmt.Sprintf("%s: %d tables, but %s has %d tables", zh, len(zd.tables), en, len(ed.tables))}
	}
	var p []string
	for i := range ed.tables {
		e, z := ed.tables[i], zd.tables[i]
		if e.rows != z.rows || e.cols != z.cols {
			p = append(p, fmt.Sprintf("%s:%d: table %d is %d×%d (rows×columns), but in %s:%d it is %d×%d",
				zh, z.line, i+1, z.rows, z.cols, en, e.line, e.rows, e.cols))
		}
	}
	return p
}

// checkDocLinks checks every relative link of every page, in both languages.
func checkDocLinks(fsys fs.FS) []string {
	en, zh := docPages(fsys)
	var problems []string
	for _, page := range append(en, zh...) {
		d, err := readDoc(fsys, page)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		for _, l := range d.links {
			if msg := brokenLink(fsys, page, l.target); msg != "" {
				problems = append(problems, fmt.Sprintf("%s:%d: link %s: %s", page, l.line, l.target, msg))
			}
		}
	}
	return problems
}

// brokenLink returns why a link of page does not resolve, or "".
func brokenLink(fsys fs.FS, page, target string) string {
	if isExternal(target) {
		return ""
	}
	file, frag := resolveLink(page, target)
	if strings.HasPrefix(file, "../") || !fileExists(fsys, file) {
		return "no such file"
	}
	if frag == "" {
		return ""
	}
	if !strings.HasSuffix(file, ".md") {
		return ""
	}
	if anchorIndex(fsys, file, frag) < 0 {
		return fmt.Sprintf("no heading of %s has the anchor #%s", file, frag)
	}
	return ""
}

func isExternal(target string) bool {
	return strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:")
}

// resolveLink returns the repository path and the fragment a link of page reaches.
func resolveLink(page, target string) (file, frag string) {
	target, frag, _ = strings.Cut(target, "#")
	if target == "" {
		return page, frag
	}
	return path.Clean(path.Join(path.Dir(page), target)), frag
}

// githubSlug returns the anchor GitHub gives a heading: the rendered text in lower
// case, with every character that is not a letter, a digit, a mark, a space, '-' or
// '_' removed and each space turned into '-'. Chinese characters are letters and
// stay; full-width punctuation goes.
func githubSlug(heading string) string {
	text := renderInline(heading)
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

var inlineLink = regexp.MustCompile(`!?\[([^\]]*)\]\(([^)\s]*)(?:\s+"[^"]*")?\)`)

// renderInline drops the Markdown of a heading: links become their text, code spans
// their content.
func renderInline(s string) string {
	s = inlineLink.ReplaceAllString(s, "$1")
	return strings.ReplaceAll(s, "`", "")
}

// mdDoc is the skeleton of a Markdown page.
type mdDoc struct {
	headings []mdHeading
	code     []mdCode
	links    []mdLink
	tables   []mdTable
}

type mdHeading struct {
	level, line int
	text        string
}

type mdCode struct {
	line       int
	info, body string
}

type mdLink struct {
	line   int
	target string
}

type mdTable struct {
	line, rows, cols int
}

// slugs returns the anchors of the page's headings, numbered as GitHub numbers
// repeated ones (-1, -2, ...).
func (d mdDoc) slugs() []string {
	seen := map[string]int{}
	out := make([]string, len(d.headings))
	for i, h := range d.headings {
		s := githubSlug(h.text)
		if n := seen[s]; n > 0 {
			out[i] = fmt.Sprintf("%s-%d", s, n)
		} else {
			out[i] = s
		}
		seen[s]++
	}
	return out
}

func readDoc(fsys fs.FS, name string) (mdDoc, error) {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return mdDoc{}, fmt.Errorf("%s: %v", name, err)
	}
	return parseMarkdown(string(b)), nil
}

var (
	atxHeading = regexp.MustCompile(`^(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$`)
	tableDelim = regexp.MustCompile(`^\|?[ \t]*:?-+:?[ \t]*(\|[ \t]*:?-+:?[ \t]*)*\|?$`)
	autolink   = regexp.MustCompile(`<((?:https?|mailto):[^>\s]+)>`)
	codeSpan   = regexp.MustCompile("(`+)[^`\\n]*?(`+)")
)

// parseMarkdown scans the subset of Markdown these pages use: ATX headings, fenced
// code blocks (``` or ~~~), inline links and autolinks outside code, and pipe tables.
func parseMarkdown(src string) mdDoc {
	var d mdDoc
	lines := strings.Split(src, "\n")
	prose := make([]string, len(lines)) // the lines outside code blocks, for links
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		trimmed := strings.TrimLeft(line, " \t")
		if fence := fenceOf(trimmed); fence != "" {
			end := closingFence(lines, i+1, fence)
			d.code = append(d.code, mdCode{
				line: i + 1,
				info: strings.TrimSpace(trimmed[len(fence):]),
				body: strings.Join(lines[i+1:end], "\n"),
			})
			i = end
			continue
		}
		if m := atxHeading.FindStringSubmatch(trimmed); m != nil && len(line)-len(trimmed) < 4 {
			d.headings = append(d.headings, mdHeading{level: len(m[1]), line: i + 1, text: m[2]})
		}
		if strings.HasPrefix(trimmed, "|") && i+1 < len(lines) && tableDelim.MatchString(strings.TrimSpace(lines[i+1])) {
			end := i + 2
			for end < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[end]), "|") {
				end++
			}
			d.tables = append(d.tables, mdTable{line: i + 1, rows: end - i - 1, cols: len(tableCells(lines[i+1]))})
		}
		prose[i] = line
	}
	d.links = linksOf(strings.Join(prose, "\n"))
	return d
}

// fenceOf returns the fence a line opens (``` or ~~~, possibly longer), or "".
func fenceOf(trimmed string) string {
	for _, c := range []string{"`", "~"} {
		n := len(trimmed) - len(strings.TrimLeft(trimmed, c))
		if n >= 3 {
			return trimmed[:n]
		}
	}
	return ""
}

// closingFence returns the index of the line that closes fence, or len(lines).
func closingFence(lines []string, from int, fence string) int {
	for j := from; j < len(lines); j++ {
		t := strings.TrimSpace(lines[j])
		if strings.HasPrefix(t, fence) && strings.Trim(t, fence[:1]) == "" {
			return j
		}
	}
	return len(lines)
}

func tableCells(row string) []string {
	row = strings.TrimSpace(row)
	row = strings.TrimPrefix(row, "|")
	row = strings.TrimSuffix(row, "|")
	return strings.Split(row, "|")
}

// linksOf returns the link targets of the prose of a page, with their lines. The text
// of a link may span lines; code spans are blanked first.
func linksOf(text string) []mdLink {
	text = codeSpan.ReplaceAllStringFunc(text, func(m string) string { return strings.Repeat(" ", len(m)) })
	var out []mdLink
	for _, re := range []*regexp.Regexp{inlineLink, autolink} {
		for _, m := range re.FindAllStringSubmatchIndex(text, -1) {
			target := text[m[len(m)-2]:m[len(m)-1]]
			if re == inlineLink {
				target = text[m[4]:m[5]]
			}
			out = append(out, mdLink{line: 1 + strings.Count(text[:m[0]], "\n"), target: target})
		}
	}
	return out
}
