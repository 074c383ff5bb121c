// Package doccheck holds the tests that keep the project's Markdown pages
// true to the code: TestSnippetsCompile compiles every Go snippet of
// README.md, SECURITY.md, docs/*.md and every other .md file of the
// repository, TestServeFlagsDocumented checks that docs/binary.md's flag
// table names every flag of `ws4go serve` and no other, and TestLinks
// that every relative link leads to a file and heading that exist. It has
// no code of its own.
//
// The rule for a ```go block:
//
//   - A block whose first line is a package clause is a complete file and
//     is compiled as it is.
//   - Any other block is a fragment: statements, or declarations (types,
//     functions, methods). What it needs besides (imports, the variables
//     and types it uses) is given in a go:context HTML comment just before
//     the block, which Markdown does not show (below). The context is put
//     at the top of a file of its own, then the fragment: at the top level
//     if it parses there, else as the body of a function. A fragment that
//     needs nothing has no comment.
//
// A context, in the Markdown just before the fragment's ```go line:
//
//	<!-- go:context
//	import "github.com/ws4go/ws4go/server"
//
//	var srv *server.Server
//	-->
//
// Each snippet is a package of its own in a temporary module that
// requires this one (through a replace directive) with this module's
// go.mod and go.sum, so snippets see only what a user's program sees (no
// internal packages) and the build needs no network. One go vet run
// type-checks and vets them all; errors name the Markdown file and line
// (through //line directives). Every snippet must also be gofmt'd. Blocks
// in another language (```sh, ```text) are not checked.
package doccheck
