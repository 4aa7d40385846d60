package dissect

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// tshark -T pdml writes each packet's whole protocol tree: every item with its field
// name (empty for text items), the displayed line (showname), the value (show), and
// where its bytes lie (pos, size). That one run gives the tree to print, the field values
// to assert on, and the expert info, malformed markers and undissected data to judge.

type pdmlNode struct {
	XMLName  xml.Name
	Name     string     `xml:"name,attr"`
	Show     string     `xml:"show,attr"`
	ShowName string     `xml:"showname,attr"`
	Pos      int        `xml:"pos,attr"`
	Size     int        `xml:"size,attr"`
	Hide     string     `xml:"hide,attr"`
	Children []pdmlNode `xml:",any"`
}

func (n *pdmlNode) isProto() bool { return n.XMLName.Local == "proto" }

// rebase makes n's positions (and its children's) relative to the token, which starts
// at off in the packet.
func (n *pdmlNode) rebase(off int) {
	n.Pos = max(n.Pos-off, 0)
	for i := range n.Children {
		n.Children[i].rebase(off)
	}
}

func (n *pdmlNode) child(name string) *pdmlNode {
	for i := range n.Children {
		if n.Children[i].Name == name {
			return &n.Children[i]
		}
	}
	return nil
}

type pdmlPacket struct {
	Protos []pdmlNode `xml:"proto"`
}

// parsePDML returns the packets of tshark's PDML output and its creator
// ("wireshark/4.0.17").
func parsePDML(r io.Reader) (pkts []pdmlPacket, creator string, err error) {
	d := xml.NewDecoder(r)
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return pkts, creator, nil
		}
		if err != nil {
			return pkts, creator, fmt.Errorf("dissect: reading tshark's PDML: %w", err)
		}
		se, ok := tok.(xml.StartElement)
		switch {
		case !ok:
		case se.Name.Local == "pdml":
			for _, a := range se.Attr {
				if a.Name.Local == "creator" {
					creator = a.Value
				}
			}
		case se.Name.Local == "packet":
			var p pdmlPacket
			if err := d.DecodeElement(&p, &se); err != nil {
				return pkts, creator, fmt.Errorf("dissect: reading tshark's PDML packet %d: %w", len(pkts)+1, err)
			}
			pkts = append(pkts, p)
		}
	}
}

// Severity levels of expert info (epan/proto.h PI_*).
const (
	severityNote    = 0x00400000
	severityWarning = 0x00600000
)

// Kinds of Problem.
const (
	Malformed   = "malformed"   // tshark's _ws.malformed, or a BER length past the end
	Expert      = "expert"      // expert info of severity Warning or worse
	Undissected = "undissected" // bytes no dissector decoded
	NotDER      = "not DER"     // a BER length not in DER's minimal form
)

// Problem is something wrong with a token.
type Problem struct {
	Kind    string // Malformed, Expert, Undissected or NotDER
	Pos     int    // offset of the bytes concerned within the token
	Size    int
	Field   string // for expert info: the field that carries it (ber.error.expected.octet_string)
	Message string
}

func (p Problem) String() string {
	s := fmt.Sprintf("%s at offset %d", p.Kind, p.Pos)
	if p.Size > 0 {
		s += fmt.Sprintf(" (%d bytes)", p.Size)
	}
	if p.Field != "" {
		s += " [" + p.Field + "]"
	}
	return s + ": " + p.Message
}

// analyser walks one packet's tree into its Token.
type analyser struct {
	t          *Token
	tree       strings.Builder
	end        int       // where the last decoded item ends
	berOverrun bool      // a BER length overrun is reported
	longLen    *pdmlNode // the ber.length_octets item of a long-form length
}

// analyse fills t from its PDML packet.
func (t *Token) analyse(p *pdmlPacket) {
	t.Fields = map[string][]string{}
	a := &analyser{t: t}
	var payload *pdmlNode
	offset := 0 // where the token starts in the packet
	for i := range p.Protos {
		n := &p.Protos[i]
		switch n.Name {
		case "geninfo":
			continue
		case "frame":
			if f := n.child("frame.protocols"); f != nil {
				t.Protocols = f.Show
			}
			continue
		case "exported_pdu":
			offset = n.Pos + n.Size // the tags before the token
			continue
		default:
			if payload == nil {
				payload = n
			}
		}
		n.rebase(offset)
		a.walk(n, 0)
	}
	t.Tree = a.tree.String()
	t.end = a.end

	// Bytes after the last item tshark decoded are bytes it ignored: the BER and NTLMSSP
	// dissectors stop where the encoding says the message ends and drop the rest
	// without a word, so trailing garbage shows up only here. (After a malformed
	// report tshark stopped early: that it decoded no further is no news.)
	switch {
	case payload == nil || payload.Name == "data":
		if !t.hasProblem(Undissected) {
			t.Problems = append(t.Problems, Problem{Kind: Undissected, Size: len(t.Bytes),
				Message: fmt.Sprintf("no dissector claimed the token (protocols %q)", t.Protocols)})
		}
	default:
		t.trailing()
	}
}

// trailing reports the bytes after the last item tshark decoded, unless a report of
// undissected or malformed data already accounts for them.
func (t *Token) trailing() {
	if t.end < len(t.Bytes) && !t.hasProblem(Undissected) && !t.hasProblem(Malformed) {
		t.Problems = append(t.Problems, Problem{Kind: Undissected, Pos: t.end, Size: len(t.Bytes) - t.end,
			Message: fmt.Sprintf("the last %d bytes follow everything tshark decoded", len(t.Bytes)-t.end)})
	}
}

func (t *Token) hasProblem(kind string) bool {
	for _, p := range t.Problems {
		if p.Kind == kind {
			return true
		}
	}
	return false
}

func (a *analyser) problem(p Problem) { a.t.Problems = append(a.t.Problems, p) }

func (a *analyser) walk(n *pdmlNode, depth int) {
	t := a.t
	switch {
	case n.Name == "_ws.malformed":
		msg := n.ShowName
		if msg == "" {
			msg = "Malformed Packet"
		}
		a.problem(Problem{Kind: Malformed, Pos: n.Pos, Size: n.Size, Message: msg})
	case n.Name == "_ws.expert":
		var sev int
		var msg, field string
		for _, c := range n.Children {
			switch c.Name {
			case "_ws.expert.severity":
				sev, _ = strconv.Atoi(c.Show)
			case "_ws.expert.message":
				msg = c.Show
			case "_ws.expert.group":
			default:
				if field == "" {
					field = c.Name
				}
			}
		}
		if msg == "" {
			msg = n.ShowName
		}
		if sev >= severityWarning {
			a.problem(Problem{Kind: Expert, Pos: n.Pos, Size: n.Size, Field: field,
				Message: fmt.Sprintf("%s (%s)", msg, severityName(sev))})
		}
	case n.Name == "data" && n.isProto():
		size := n.Size
		if f := n.child("data.len"); f != nil {
			size, _ = strconv.Atoi(f.Show)
		}
		a.problem(Problem{Kind: Undissected, Pos: n.Pos, Size: size,
			Message: fmt.Sprintf("%d bytes no dissector claimed", size)})
	case n.Name == "ber.length_octets":
		a.longLen = n
	case n.Name == "ber.length":
		a.berLength(n)
	}
	if n.isProto() {
		t.protos = append(t.protos, span{n.Name, n.Pos, n.Size})
	}
	if !n.isProto() && n.Size > 0 {
		a.end = max(a.end, min(n.Pos+n.Size, len(t.Bytes)))
	}
	if berInternal(n.Name) {
		return // checked, not shown
	}
	if n.Name != "" {
		t.Fields[n.Name] = append(t.Fields[n.Name], n.Show)
	}
	line := n.ShowName
	if line == "" {
		line = n.Show
	}
	if n.Hide != "yes" && line != "" {
		fmt.Fprintf(&a.tree, "%s%s\n", strings.Repeat("    ", depth), line)
		depth++
	}
	for i := range n.Children {
		a.walk(&n.Children[i], depth)
	}
}

// berInternal reports the items ber.show_internals adds: every element's identifier
// and length.
func berInternal(name string) bool {
	return strings.HasPrefix(name, "ber.id.") || name == "ber.length" || name == "ber.length_octets"
}

// berLength checks a BER length item (there with ber.show_internals) against the token
// and against DER.
func (a *analyser) berLength(n *pdmlNode) {
	long := a.longLen
	a.longLen = nil
	l, err := strconv.Atoi(n.Show)
	if err != nil {
		return // "Indefinite length"
	}
	// The BER dissector cuts a field whose length runs past the end of the token down
	// to what is there, without an error: a truncated NegTokenResp dissects "cleanly".
	// Only the outermost overrun is worth saying: the enclosing lengths overrun by as
	// much.
	if end := n.Pos + n.Size + l; end > len(a.t.Bytes) && !a.berOverrun {
		a.berOverrun = true
		a.problem(Problem{Kind: Malformed, Pos: n.Pos, Size: n.Size,
			Message: fmt.Sprintf("BER length %d runs %d bytes past the end of the token", l, end-len(a.t.Bytes))})
	}
	// DER (X.690 10.1): the definite form in the fewest octets. tshark accepts any.
	if long != nil && long.Pos+long.Size == n.Pos {
		octets, _ := strconv.Atoi(long.Show)
		if minimal := derLengthOctets(l); octets != minimal {
			a.problem(Problem{Kind: NotDER, Pos: long.Pos, Size: long.Size + n.Size,
				Message: fmt.Sprintf("length %d in the long form with %d octets; DER takes %d", l, octets, minimal)})
		}
	}
}

// derLengthOctets is how many octets follow the first in DER's encoding of a length
// (0: the short form).
func derLengthOctets(l int) int {
	n := 0
	if l >= 0x80 {
		for ; l > 0; l >>= 8 {
			n++
		}
	}
	return n
}

func severityName(s int) string {
	switch {
	case s >= 0x00800000:
		return "Error"
	case s >= severityWarning:
		return "Warning"
	case s >= severityNote:
		return "Note"
	}
	return "Chat"
}
