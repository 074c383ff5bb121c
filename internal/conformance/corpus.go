package conformance

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"
	"unicode/utf8"
)

// Payload corpora: deterministic, generated once.
var (
	jsonCorpus   = sync.OnceValue(func() []byte { return genJSON(320 << 10) })
	utf8Corpus   = sync.OnceValue(func() []byte { return utf8Payload(320 << 10) })
	randomCorpus = sync.OnceValue(func() []byte { return genRandom(320 << 10) })
	recordCorpus = sync.OnceValue(func() []byte { return genRecords(320 << 10) })
)

// genJSON returns about n bytes of JSON-like records with some non-ASCII
// text: realistic, compressible text.
func genJSON(n int) []byte {
	r := rand.New(rand.NewPCG(7692, 1))
	names := []string{"Zoë", "Łukasz", "Ana", "Björn", "Øyvind", "José", "李雷", "Ἀθηνᾶ", "Chloé", "Saoirse", "Dvořák", "Иван", "Mia 🙂", "Jürgen", "Thảo"}
	cities := []string{"Zürich", "São Paulo", "Kraków", "東京", "Αθήνα", "Reykjavík", "Montréal", "Москва", "Berlin", "Paris"}
	tags := []string{"alpha", "beta", "gamma", "delta", "prod", "staging", "eu-west", "us-east", "vip", "trial"}
	var b bytes.Buffer
	b.WriteString("[\n")
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, `  {"id": %d, "user": %q, "email": "user%d@example.com", "active": %t, "score": %.4f, "tags": [%q, %q], "city": %q, "ts": "2024-%02d-%02dT%02d:%02d:%02dZ", "note": "order #%d shipped"},`+"\n",
			100000+i, names[r.IntN(len(names))], r.IntN(5000), r.IntN(3) > 0, r.Float64()*100,
			tags[r.IntN(len(tags))], tags[r.IntN(len(tags))], cities[r.IntN(len(cities))],
			1+r.IntN(12), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1e6))
	}
	return b.Bytes()
}

// genRandom returns n random bytes: incompressible.
func genRandom(n int) []byte {
	r := rand.New(rand.NewPCG(7692, 2))
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], r.Uint64())
		copy(b[i:], w[:])
	}
	return b
}

// genRecords returns n bytes of fixed-size binary records (sequence number,
// timestamp, sensor, a slowly varying reading, flags): compressible binary.
func genRecords(n int) []byte {
	r := rand.New(rand.NewPCG(7692, 3))
	b := make([]byte, 0, n+16)
	v := int16(200)
	for i := 0; len(b) < n; i++ {
		v += int16(r.IntN(5) - 2)
		b = binary.LittleEndian.AppendUint32(b, uint32(i))
		b = binary.LittleEndian.AppendUint32(b, uint32(1700000000+i*10+r.IntN(3)))
		b = binary.LittleEndian.AppendUint16(b, uint16(i%8))
		b = binary.LittleEndian.AppendUint16(b, uint16(v))
		b = append(b, byte(r.IntN(4)), 0, 0, 0)
	}
	return b[:n]
}

// textSlice returns exactly n bytes of valid UTF-8 taken from the UTF-8
// corpus c near offset off: it starts at a character boundary, and a
// character cut at the end is replaced by spaces.
func textSlice(c []byte, off, n int) []byte {
	if off+n+utf8.UTFMax > len(c) {
		off = 0
	}
	for !utf8.RuneStart(c[off]) {
		off++
	}
	b := append([]byte(nil), c[off:off+n]...)
	for k := 1; k <= utf8.UTFMax-1 && k <= len(b); k++ {
		if utf8.RuneStart(b[len(b)-k]) {
			if !utf8.FullRune(b[len(b)-k:]) {
				for j := len(b) - k; j < len(b); j++ {
					b[j] = ' '
				}
			}
			break
		}
	}
	return b
}

// A payloadKind is a family of messages: a corpus and an opcode.
type payloadKind struct {
	name   string
	op     byte
	corpus func() []byte
}

var (
	kindJSON    = payloadKind{"JSON text", OpText, jsonCorpus}
	kindUTF8    = payloadKind{"repetitive UTF-8 text", OpText, utf8Corpus}
	kindRandom  = payloadKind{"random binary", OpBinary, randomCorpus}
	kindRecords = payloadKind{"record binary", OpBinary, recordCorpus}
)

// payload returns the k-th message of n bytes of the kind: different k give
// different slices of the corpus.
func (pk payloadKind) payload(k, n int) []byte {
	c := pk.corpus()
	off := (k*40503 + n*7) % (len(c) - n - utf8.UTFMax)
	if pk.op == OpText {
		return textSlice(c, off, n)
	}
	return append([]byte(nil), c[off:off+n]...)
}
