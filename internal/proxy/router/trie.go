package router

import "strings"

// entry is one candidate in an index list. Lists are kept in rank order,
// so a scan can stop at the first entry that is not better than the best
// match found so far.
type entry struct {
	rank int32 // the candidate's position in Router.cands: lower wins
	port int32 // the port the host entry requires, 0 for any
}

// anyHostGroup is the kind of the group of routes without hosts.
const anyHostGroup = -1

// buildGroup holds, while New runs, the candidates reachable through one
// host key (or through none, for routes without hosts): a radix tree over
// their path prefixes, and the list of those without a path.
type buildGroup struct {
	kind    int    // which table finds it: hostExact, hostSuffix, hostPrefix or anyHostGroup
	key     string // the host key
	minRank int32
	paths   buildNode
	noPath  []entry
}

// buildNode is a node of a radix tree over path prefixes. Every key
// inserted ends at a node, so walking the tree along a request path visits
// exactly the nodes whose key is a prefix of the path.
type buildNode struct {
	label    string // the bytes on the edge from the parent
	indices  string // the first byte of each child's label, in children order
	children []*buildNode
	entries  []entry
}

// insert adds e under key, which is relative to n.
func (n *buildNode) insert(key string, e entry) {
	for key != "" {
		i := strings.IndexByte(n.indices, key[0])
		if i < 0 {
			n.indices += key[:1]
			n.children = append(n.children, &buildNode{label: key, entries: []entry{e}})
			return
		}
		c := n.children[i]
		l := commonPrefix(key, c.label)
		if l < len(c.label) {
			split := &buildNode{label: c.label[:l], indices: c.label[l : l+1], children: []*buildNode{c}}
			c.label = c.label[l:]
			n.children[i] = split
			c = split
		}
		key = key[l:]
		n = c
	}
	n.entries = append(n.entries, e)
}

func commonPrefix(a, b string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}
