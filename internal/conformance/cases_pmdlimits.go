package conformance

import (
	"compress/flate"
	"time"
)

// pmdLimitCases is group 10.6: the message limit applies to the inflated
// size. The bombs assume a limit below 33 MiB.
func pmdLimitCases() []Case {
	const offer = "permessage-deflate"
	c := func(id, desc string, build func() pmdScript) Case {
		cs := pmdCase(id, desc, offer, DeflateResponse, build)
		cs.Timeout = 60 * time.Second
		return cs
	}
	return []Case{
		c("10.6.1", "deflated binary inflating to 33 MiB of zeros (about 33 KB sent), one frame", func() pmdScript {
			return failScript(1009, deflatedFrames(OpBinary, [][]byte{deflateBomb(33)}))
		}),
		c("10.6.2", "deflated text inflating to 33 MiB of NUL characters, in frames of 1 KiB", func() pmdScript {
			return failScript(1009, deflatedFrames(OpText, chunks(deflateBomb(33), 1<<10)))
		}),
		c("10.6.3", "decompression bomb: deflated binary inflating to 1 GiB (about 1 MB sent), one frame", func() pmdScript {
			return failScript(1009, deflatedFrames(OpBinary, [][]byte{deflateBomb(1 << 10)}))
		}),
		c("10.6.4", "decompression bomb: deflated binary inflating to 1 GiB, in frames of 4 KiB", func() pmdScript {
			return failScript(1009, deflatedFrames(OpBinary, chunks(deflateBomb(1<<10), 4<<10)))
		}),
		c("10.6.5", "echo, then a bomb: deflated text of 1 KiB, then deflated binary inflating to 33 MiB, then a ping, one write", func() pmdScript {
			m := pmdMsg{op: OpText, p: kindJSON.payload(13, 1<<10), enc: encLevel(flate.DefaultCompression)}
			return failScript(1009, append(append(m.frames(), deflatedFrames(OpBinary, [][]byte{deflateBomb(33)})...), pingFr([]byte("after"))), m.event())
		}),
		c("10.6.6", "deflated binary inflating to 8 MiB of zeros (ratio 1000:1, under the limit)", func() pmdScript {
			return echoScript(pmdMsg{op: OpBinary, p: make([]byte, 8<<20), enc: encRaw(deflateBomb(8))})
		}),
		// The limit applies as the bytes are produced: a message whose
		// first frame alone inflates past it fails without its end.
		c("10.6.7", "decompression bomb: the first frame (FIN=0) of a deflated binary message inflates to 33 MiB; nothing more is sent", func() pmdScript {
			return failScript(1009, []fr{{rsv: RSV1, op: OpBinary, payload: deflateBomb(33)}})
		}),
		c("10.6.8", "decompression bomb: deflated text inflating to 1 GiB of NUL characters in frames of 1 KiB, of which only the first 100 KiB are sent (FIN=0)", func() pmdScript {
			frs := deflatedFrames(OpText, chunks(deflateBomb(1<<10), 1<<10))
			return failScript(1009, frs[:100])
		}),
	}
}
