// Preloaded into Portkey's gateway by bench/portkey_gateway.py (`node --require`).
// Its start-server.js takes --port but no host and listens on every interface; the
// benchmark keeps every server on 127.0.0.1, so a listen(port) without a host gets that one.
const net = require("node:net");

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (port, host, ...rest) {
  const loopback = typeof port === "number" && host === undefined;
  return listen.call(this, port, loopback ? "127.0.0.1" : host, ...rest);
};
