package authrule

// ClientAddressHeader is the request header in which the gateway's edge
// passes the client's address (trusted proxies applied) to the handlers
// behind it. The edge deletes any copy a client sent.
const ClientAddressHeader = "Mcpgate-Client-Address"
