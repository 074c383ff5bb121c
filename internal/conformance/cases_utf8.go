package conformance

import (
	"bytes"
	"fmt"
	"strings"
	"time"
)

// kosmeEdited is Autobahn 6.3.1's payload: Greek "κόσμε", the surrogate
// U+D800, then "edited".
const kosmeEdited = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited"

// utf8Vector is one UTF-8 test string and whether RFC 3629 calls it valid.
type utf8Vector struct {
	name  string
	data  string
	valid bool
}

// validUTF8 lists valid texts, including every sequence length and the
// boundaries between them; noncharacters are valid UTF-8.
var validUTF8 = []utf8Vector{
	{"empty text", "", true},
	{"Hello-µ@ßöäüàá-UTF-8!!", "Hello-µ@ßöäüàá-UTF-8!!", true},
	{"Greek κόσμε", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", true},
	{"U+0000", "\x00", true},
	{"U+007F (last 1-byte)", "\x7f", true},
	{"U+0080 (first 2-byte)", "\xc2\x80", true},
	{"U+07FF (last 2-byte)", "\xdf\xbf", true},
	{"U+0800 (first 3-byte)", "\xe0\xa0\x80", true},
	{"U+D7FF (last before surrogates)", "\xed\x9f\xbf", true},
	{"U+E000 (first after surrogates)", "\xee\x80\x80", true},
	{"U+FEFF (BOM)", "\xef\xbb\xbf", true},
	{"U+FFFD (replacement character)", "\xef\xbf\xbd", true},
	{"U+FFFE (noncharacter)", "\xef\xbf\xbe", true},
	{"U+FFFF (last 3-byte, noncharacter)", "\xef\xbf\xbf", true},
	{"U+10000 (first 4-byte)", "\xf0\x90\x80\x80", true},
	{"U+10FFFF (last code point)", "\xf4\x8f\xbf\xbf", true},
	{"noncharacters U+FDD0..U+FDEF", nonchars(0xFDD0, 0xFDEF), true},
	{"noncharacters U+nFFFE/U+nFFFF of planes 1..16", planeNonchars(), true},
	{"all 128 ASCII characters", asciiAll(), true},
	{"one sequence of each length", "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", true},
	{"boundaries U+007F U+0080 U+07FF U+0800 U+FFFF U+10000 U+10FFFF in one text", "\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf", true},
	{"65536 bytes of mixed 1- to 4-byte sequences", string(utf8Payload(65536)), true},
}

// invalidUTF8 lists texts a server must reject with 1007.
var invalidUTF8 = []utf8Vector{
	{"overlong U+0000 (C0 80)", "\xc0\x80", false},
	{"overlong U+007F (C1 BF)", "\xc1\xbf", false},
	{"overlong U+0000 (E0 80 80)", "\xe0\x80\x80", false},
	{"overlong U+07FF (E0 9F BF)", "\xe0\x9f\xbf", false},
	{"overlong U+0000 (F0 80 80 80)", "\xf0\x80\x80\x80", false},
	{"overlong U+FFFF (F0 8F BF BF)", "\xf0\x8f\xbf\xbf", false},
	{"overlong '/' (C0 AF)", "\xc0\xaf", false},
	{"5-byte sequence (F8 88 80 80 80)", "\xf8\x88\x80\x80\x80", false},
	{"6-byte sequence (FC 84 80 80 80 80)", "\xfc\x84\x80\x80\x80\x80", false},
	{"surrogate U+D800 (ED A0 80)", "\xed\xa0\x80", false},
	{"surrogate U+DB7F (ED AD BF)", "\xed\xad\xbf", false},
	{"surrogate U+DB80 (ED AE 80)", "\xed\xae\x80", false},
	{"surrogate U+DBFF (ED AF BF)", "\xed\xaf\xbf", false},
	{"surrogate U+DC00 (ED B0 80)", "\xed\xb0\x80", false},
	{"surrogate U+DF80 (ED BE 80)", "\xed\xbe\x80", false},
	{"surrogate U+DFFF (ED BF BF)", "\xed\xbf\xbf", false},
	{"paired surrogates U+D800 U+DC00", "\xed\xa0\x80\xed\xb0\x80", false},
	{"paired surrogates U+DBFF U+DFFF", "\xed\xaf\xbf\xed\xbf\xbf", false},
	{"U+110000 (F4 90 80 80)", "\xf4\x90\x80\x80", false},
	{"U+1FFFFF (F7 BF BF BF)", "\xf7\xbf\xbf\xbf", false},
	{"byte F5", "\xf5", false},
	{"byte F5 in a 4-byte shape (F5 80 80 80)", "\xf5\x80\x80\x80", false},
	{"byte FE", "\xfe", false},
	{"byte FF", "\xff", false},
	{"bytes FE FE FF FF", "\xfe\xfe\xff\xff", false},
	{"lone continuation byte 80", "\x80", false},
	{"lone continuation byte BF", "\xbf", false},
	{"stray continuation byte between ASCII", "a\x80b", false},
	{"four continuation bytes 80 BF 80 BF", "\x80\xbf\x80\xbf", false},
	{"truncated 2-byte sequence at the end (C2)", "Hello\xc2", false},
	{"truncated 3-byte sequence at the end (E0 A0)", "Hello\xe0\xa0", false},
	{"truncated 4-byte sequence at the end (F0 90 80)", "Hello\xf0\x90\x80", false},
	{"truncated U+10FFFF at the end (F4 8F BF)", "\xf4\x8f\xbf", false},
	{"2-byte lead followed by ASCII (C2 41)", "\xc2\x41", false},
	{"3-byte lead and one continuation followed by ASCII (E2 82 41)", "\xe2\x82\x41", false},
	{"truncated sequence inside Greek text", "\xce\xba\xe1\xbd\xcf\x83\xce\xbc\xce\xb5", false},
	{"κόσμε, surrogate, \"edited\" (Autobahn 6.3.1)", kosmeEdited, false},
	{"concatenated incomplete sequences", "\xc0\xe0\x80\xf0\x80\x80\xf8\x88\x80\x80\xfc\x80\x80\x80\x80\xdf\xef\xbf\xf7\xbf\xbf\xfb\xbf\xbf\xbf\xfd\xbf\xbf\xbf\xbf", false},
	{"valid text with one invalid byte at the end of 65536", string(utf8Payload(65535)) + "\xff", false},
}

// nonchars concatenates the code points lo..hi.
func nonchars(lo, hi rune) string {
	var b strings.Builder
	for r := lo; r <= hi; r++ {
		b.WriteRune(r)
	}
	return b.String()
}

// planeNonchars concatenates U+nFFFE and U+nFFFF for planes 1 to 16.
func planeNonchars() string {
	var b strings.Builder
	for p := rune(1); p <= 16; p++ {
		b.WriteRune(p<<16 | 0xFFFE)
		b.WriteRune(p<<16 | 0xFFFF)
	}
	return b.String()
}

// asciiAll returns the bytes 0x00..0x7F.
func asciiAll() string {
	b := make([]byte, 128)
	for i := range b {
		b[i] = byte(i)
	}
	return string(b)
}

// utf8Cases is family 6.
func utf8Cases() []Case {
	var cs []Case
	for i, v := range validUTF8 {
		cs = append(cs, echoCase(fmt.Sprintf("6.1.%d", i+1), "valid text: "+v.name,
			acts(send(textFr(v.data))), textEv(v.data)))
	}
	for i, v := range invalidUTF8 {
		cs = append(cs, failCase(fmt.Sprintf("6.2.%d", i+1), "invalid text: "+v.name, 1007,
			acts(send(textFr(v.data)))))
	}

	// A valid text split into two fragments at every byte position.
	s := []byte("a\xce\xba\xe2\x82\xac\xf0\x9d\x84\x9ez") // a κ € 𝄞 z
	for at := 0; at <= len(s); at++ {
		cs = append(cs, echoCase(fmt.Sprintf("6.3.%d", at+1),
			fmt.Sprintf("valid text \"aκ€𝄞z\" in 2 fragments split at byte %d", at),
			acts(send(fragments(OpText, [][]byte{s[:at], s[at:]})...)), textEv(string(s))))
	}
	n := len(s) + 1
	hello := []byte("Hello-µ@ßöäüàá-UTF-8!!")
	greek := []byte(validUTF8[2].data)
	cs = append(cs,
		echoCase(fmt.Sprintf("6.3.%d", n+1), "valid text \"aκ€𝄞z\" in 1-byte fragments",
			acts(send(fragments(OpText, chunks(s, 1))...)), textEv(string(s))),
		echoCase(fmt.Sprintf("6.3.%d", n+2), "valid text \"Hello-µ@ßöäüàá-UTF-8!!\" in 1-byte fragments",
			acts(send(fragments(OpText, chunks(hello, 1))...)), textEv(string(hello))),
		echoCase(fmt.Sprintf("6.3.%d", n+3), "valid text U+1D11E in 3 fragments (F0 | 9D 84 | 9E)",
			acts(send(fragments(OpText, [][]byte{{0xf0}, {0x9d, 0x84}, {0x9e}})...)), textEv("\U0001D11E")),
		echoCase(fmt.Sprintf("6.3.%d", n+4), "valid Greek text in 1-byte fragments, 1-byte writes",
			acts(chopped(1, fragments(OpText, chunks(greek, 1))...)), textEv(string(greek))),
		echoCase(fmt.Sprintf("6.3.%d", n+5), "65536 bytes of mixed UTF-8 in 7-byte fragments",
			acts(send(fragments(OpText, chunks(utf8Payload(65536), 7))...)), msgEv(OpText, utf8Payload(65536))),
	)

	// Invalid text split across fragments.
	edited := []byte(kosmeEdited)
	b := func(s string) []byte { return []byte(s) }
	invSplits := []struct {
		name  string
		parts [][]byte
	}{
		{"κόσμε | surrogate \"edited\"", [][]byte{greek, edited[len(greek):]}},
		{"\"a\" ED | A0 80 (surrogate split)", [][]byte{b("a\xed"), b("\xa0\x80")}},
		{"F4 | 90 80 80 (U+110000 split)", [][]byte{b("\xf4"), b("\x90\x80\x80")}},
		{"C0 | 80 (overlong split)", [][]byte{b("\xc0"), b("\x80")}},
		{"E0 | 80 80 (overlong split)", [][]byte{b("\xe0"), b("\x80\x80")}},
		{"\"Hello\" E2 82 | empty final fragment (message ends inside a sequence)", [][]byte{b("Hello\xe2\x82"), {}}},
		{"\"Hello\" F0 9F 98 | empty final fragment", [][]byte{b("Hello\xf0\x9f\x98"), {}}},
		{"\"Hello\" | \"world\" | FF", [][]byte{b("Hello"), b("world"), b("\xff")}},
		{"\"a\" E2 | 82 | 41 (sequence broken by ASCII in the third fragment)", [][]byte{b("a\xe2"), b("\x82"), b("\x41")}},
		{"κόσμε + surrogate + \"edited\" in 1-byte fragments", chunks(edited, 1)},
		{"65535 valid bytes | FF", [][]byte{utf8Payload(65535), b("\xff")}},
	}
	for i, v := range invSplits {
		cs = append(cs, failCase(fmt.Sprintf("6.4.%d", i+1), "invalid text in fragments: "+v.name, 1007,
			acts(send(fragments(OpText, v.parts)...))))
	}

	// Fail fast: the invalid bytes are sent, the rest of the message or
	// frame never is; the server must answer 1007 without waiting for it.
	part := func(fin bool, op byte, decl int, p []byte) fr { return fr{fin: fin, op: op, payload: p, declLen: decl} }
	ff := []struct {
		name string
		a    []action
	}{
		{"first fragment (FIN=0) is κόσμε + surrogate + \"edited\"; nothing more is sent",
			acts(send(frag(OpText, false, edited)))},
		{"\"Hello\" FIN=0, then a FIN=0 continuation F4 90 80 80; nothing more",
			acts(send(frag(OpText, false, b("Hello"))), pause(10*time.Millisecond), send(contFr(false, b("\xf4\x90\x80\x80"))))},
		{"first fragment (FIN=0) is C0 80; nothing more", acts(send(frag(OpText, false, b("\xc0\x80"))))},
		{"first fragment (FIN=0) is \"Hello\" FF; nothing more", acts(send(frag(OpText, false, b("Hello\xff"))))},
		{"first fragment (FIN=0) is \"a\" E2 82 41; nothing more", acts(send(frag(OpText, false, b("a\xe2\x82\x41"))))},
		{"FIN=0 F4, then FIN=0 continuation 90 (already invalid); nothing more",
			acts(send(frag(OpText, false, b("\xf4")), contFr(false, b("\x90"))))},
		{"single text frame announcing 65536 bytes; only \"Hello\" FF FE FD is sent",
			acts(send(part(true, OpText, 65536, b("Hello\xff\xfe\xfd"))))},
		{"single text frame announcing 1000 bytes; only ED A0 80 is sent",
			acts(send(part(true, OpText, 1000, b("\xed\xa0\x80"))))},
		{"single text frame announcing 1 MiB; only C0 is sent",
			acts(send(part(true, OpText, 1<<20, b("\xc0"))))},
		{"FIN=0 text frame announcing 65536 bytes; only \"a\" F5 is sent",
			acts(send(part(false, OpText, 65536, b("a\xf5"))))},
		{"single text frame announcing 65536 bytes; 32 valid bytes then 80, 1-byte writes",
			acts(chopped(1, part(true, OpText, 65536, append(utf8Payload(32), 0x80))))},
		{"valid first fragment, then a continuation announcing 65536 bytes; only ED BF BF is sent",
			acts(send(frag(OpText, false, greek), part(false, OpContinuation, 65536, b("\xed\xbf\xbf"))))},
	}
	for i, v := range ff {
		cs = append(cs, failCase(fmt.Sprintf("6.5.%d", i+1), "fail fast: "+v.name, 1007, v.a))
	}

	// Sanity of the vector tables (checked again by the unit test).
	if !bytes.Equal(edited[:len(greek)], greek) {
		panic("conformance: bad UTF-8 vectors")
	}
	return cs
}
