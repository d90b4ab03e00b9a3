package cluster

// CloseTimeout is the close code a control plane ends a connection with
// when the data plane sent no frame for 1.5 ping intervals; it joins the
// codes of message.go. The data plane reconnects as after any loss of the
// connection.
const CloseTimeout = 4408
