/** Chapter 10 · netlink: how `ip link add`, `ip addr add` and `ip route add` talk to the kernel,
 *  done by hand. A NETLINK_ROUTE socket (rtnetlink, rtnetlink(7)) is a datagram socket whose
 *  other end is the kernel's network configuration: we write a request into it, in bytes laid
 *  out as the kernel's C structs, and read back an answer.
 *
 *  Why not ioctl(2), as chapter 02 did to bring `lo` up? The ioctls of netdevice(7) take one
 *  fixed struct ifreq, so each new feature needed a new ioctl number, and most never got one:
 *  there is no ioctl that creates a veth pair, moves a link into another network namespace, or
 *  lists every link in one call. Netlink messages are extensible instead: a small fixed header,
 *  then any number of typed attributes, which may themselves hold attributes. A kernel that
 *  does not know an attribute can say so; a new one costs a number, not a new ioctl. iproute2,
 *  systemd-networkd, docker (through a Go netlink library), podman's netavark and the CNI
 *  plugins all speak it.
 *
 *  One message, as bytes (the request that creates the bridge):
 *
 *     0  40 00 00 00   nlmsghdr   nlmsg_len    64: the whole message, this header included
 *     4  10 00                    nlmsg_type   RTM_NEWLINK
 *     6  05 06                    nlmsg_flags  NLM_F_REQUEST|NLM_F_ACK|NLM_F_EXCL|NLM_F_CREATE
 *     8  01 00 00 00              nlmsg_seq    1: the answer carries it back
 *    12  00 00 00 00              nlmsg_pid    0
 *    16  00 00 00 00   ifinfomsg  ifi_family AF_UNSPEC, a pad byte, ifi_type
 *    20  00 00 00 00              ifi_index    0: the link does not exist yet
 *    24  00 00 00 00              ifi_flags
 *    28  00 00 00 00              ifi_change
 *    32  0e 00 03 00   rtattr     rta_len 14, rta_type IFLA_IFNAME
 *    36  6e 75 74 73 68 65 6c 6c 30 00 00 00    "nutshell0", its NUL, 2 bytes of padding
 *    48  10 00 12 80   rtattr     rta_len 16, rta_type IFLA_LINKINFO|NLA_F_NESTED
 *    52  0b 00 01 00     rtattr   rta_len 11, rta_type IFLA_INFO_KIND
 *    56  62 72 69 64 67 65 00 00                "bridge", its NUL, 1 byte of padding
 *
 *  So: a 16-byte nlmsghdr; a fixed header that the message type decides (ifinfomsg for links,
 *  ifaddrmsg for addresses, rtmsg for routes); then rtattrs, each a 4-byte header (length, type)
 *  and a payload padded with zeros to a multiple of 4, so that the next header is aligned. A
 *  nested attribute's payload is a list of attributes. Numbers are in the host's byte order
 *  (little-endian here), IPv4 addresses in network order, as on the wire.
 *
 *  Every request sets NLM_F_ACK and a sequence number: the kernel then always answers, with an
 *  NLMSG_ERROR message carrying that number and an error code, 0 for success (the "ack"), or
 *  a negative errno. A dump (NLM_F_DUMP) is answered by many messages, flagged NLM_F_MULTI,
 *  over several datagrams, until one of type NLMSG_DONE.
 *
 *  The namespace rule that the whole chapter leans on: a netlink socket belongs to the network
 *  namespace of the thread that called socket(2), for its whole life, wherever it is used
 *  later. So the engine's socket, opened on the host side, creates the bridge and the veth pair
 *  on the host; the child stage's socket, opened after unshare(CLONE_NEWNET), sees only the
 *  container's links (lo, and eth0 once the engine has put it there) and configures those.
 *  The one message that reaches across is the veth creation: its peer's attributes carry
 *  IFLA_NET_NS_FD, a descriptor of the container's namespace, where the kernel creates the
 *  peer directly, named eth0 there (so no `eth0` ever exists on the host side to clash).
 *
 *  --trace prints each request decoded from the bytes actually sent, and each answer.      */
import { isIPv4 } from 'node:net';
import { endianness } from 'node:os';
import { errnoName, SyscallError, UserError } from '../../lib/errors.ts';
import { libc, sys } from '../../lib/libc.ts';
import { flagNames, traceEnabled, traceStep } from '../../lib/trace.ts';

const socket_ = libc.func('int socket(int domain, int type, int protocol)'); // man 2 socket
const setsockopt_ = libc.func('int setsockopt(int fd, int level, int optname, const void *optval, uint32_t optlen)'); // man 2 setsockopt
const bind_ = libc.func('int bind(int fd, const void *addr, uint32_t addrlen)'); // man 2 bind
// ssize_t in the man pages; koffi has no ssize_t, and long is the same size on Linux.
const sendto_ = libc.func('long sendto(int fd, const void *buf, size_t len, int flags, const void *dest_addr, uint32_t addrlen)'); // man 2 sendto
const recv_ = libc.func('long recv(int fd, void *buf, size_t len, int flags)'); // man 2 recv
const close_ = libc.func('int close(int fd)'); // man 2 close

// Netlink headers are in the host's byte order; the code below writes little-endian, which is
// what every architecture this project runs on (x86_64, arm64, riscv64) uses.
if (endianness() !== 'LE') throw new Error('netlink.ts writes little-endian headers: this machine is big-endian');

// ---- the socket ------------------------------------------------------------------------

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_ROUTE = 0;
const SOL_NETLINK = 270;
const NETLINK_CAP_ACK = 10;
const NETLINK_EXT_ACK = 11;
const MSG_TRUNC = 0x20;

/** struct sockaddr_nl, the address of a netlink socket: nl_pid 0 is the kernel when we send
 *  to it, and "choose a free port id for me" when we bind. nl_groups 0: no multicast
 *  notifications, so that nothing but the answers to our own requests arrives. */
function sockaddrNl(): Buffer {
  const address = Buffer.alloc(12);
  address.writeUInt16LE(AF_NETLINK, 0); // nl_family; nl_pad, nl_pid and nl_groups stay 0
  return address;
}

/** A NETLINK_ROUTE socket in the network namespace of the calling thread, now and for ever. */
export function openRouteSocket(why: string): number {
  // SOCK_CLOEXEC: a program exec'd later (the container's command) must never inherit a
  // handle on the host's network configuration.
  const fd = sys('socket', [], why, () => socket_(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), {
    target: 'AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, NETLINK_ROUTE',
    hint: { EAFNOSUPPORT: 'this kernel has no netlink?' },
  });
  try {
    const on = Buffer.alloc(4);
    on.writeInt32LE(1, 0);
    // Extended acks: a refusal then carries the kernel's own sentence ("Unknown device type").
    sys('setsockopt', [], 'ask for the kernel\'s reason with each error', () => setsockopt_(fd, SOL_NETLINK, NETLINK_EXT_ACK, on, 4), {
      target: `${fd}, SOL_NETLINK, NETLINK_EXT_ACK, [1], 4`,
    });
    // Capped acks: without this, every ack would carry a copy of the whole request back.
    sys('setsockopt', [], 'acks without a copy of our request', () => setsockopt_(fd, SOL_NETLINK, NETLINK_CAP_ACK, on, 4), {
      target: `${fd}, SOL_NETLINK, NETLINK_CAP_ACK, [1], 4`,
    });
    const address = sockaddrNl();
    sys('bind', [], 'get a port id of our own, which the kernel addresses its answers to', () => bind_(fd, address, address.length), {
      target: `${fd}, {nl_family=AF_NETLINK, nl_pid=0, nl_groups=0}, ${address.length}`,
    });
  } catch (err) {
    close_(fd);
    throw err;
  }
  return fd;
}

export function closeRouteSocket(fd: number): void {
  sys('close', [fd], 'done with this namespace\'s network configuration', () => close_(fd));
}

// ---- the numbers: message types, flags, fixed headers, attributes ------------------------
// From the kernel's uapi headers: linux/netlink.h, linux/rtnetlink.h, linux/if_link.h,
// linux/if_addr.h, linux/veth.h.

const NLMSG_HDRLEN = 16;
const NLMSG_NOOP = 1;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;

const RTM_NEWLINK = 16;
const RTM_DELLINK = 17;
const RTM_GETLINK = 18;
const RTM_SETLINK = 19;
const RTM_NEWADDR = 20;
const RTM_NEWROUTE = 24;

/** Flags of every message; the high byte means something else for each kind of request. */
const NLM_F = { NLM_F_REQUEST: 0x1, NLM_F_MULTI: 0x2, NLM_F_ACK: 0x4, NLM_F_ECHO: 0x8, NLM_F_DUMP_INTR: 0x10 };
const NLM_F_NEW = { NLM_F_REPLACE: 0x100, NLM_F_EXCL: 0x200, NLM_F_CREATE: 0x400, NLM_F_APPEND: 0x800 };
const NLM_F_GET = { NLM_F_DUMP: 0x300 };
const NLM_F_ERROR = { NLM_F_CAPPED: 0x100, NLM_F_ACK_TLVS: 0x200 };
const { NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK, NLM_F_DUMP_INTR } = NLM_F;
const { NLM_F_EXCL, NLM_F_CREATE } = NLM_F_NEW;
const { NLM_F_DUMP } = NLM_F_GET;

const AF_UNSPEC = 0;
const AF_INET = 2;
const IFF = { IFF_UP: 0x1 }; // the one link flag we set (net/if.h has the others)
const RT_TABLE_MAIN = 254;
const RTPROT_BOOT = 3; // what `ip route add` says by default: "set up by an administrator"
const RT_SCOPE_UNIVERSE = 0;
const RTN_UNICAST = 1;

/** Set in rta_type when the payload is itself a list of attributes. */
const NLA_F_NESTED = 0x8000;
const NLA_TYPE_MASK = 0x3fff; // without NLA_F_NESTED and NLA_F_NET_BYTEORDER

const IFLA_IFNAME = 3;
const IFLA_MASTER = 10;
const IFLA_LINKINFO = 18;
const IFLA_NET_NS_FD = 28;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const VETH_INFO_PEER = 1;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const IFA_BROADCAST = 4;
const RTA_GATEWAY = 5;
const NLMSGERR_ATTR_MSG = 1; // in an extended ack: the kernel's sentence

/** What an attribute's payload holds, for the trace and for reading answers: a scalar, the
 *  attributes of another space, or (VETH_INFO_PEER) a whole ifinfomsg followed by IFLA_*. */
type Payload = 'string' | 'u32' | 'ipv4' | { nested: AttributeSpace } | { dataOfKind: Record<string, AttributeSpace> } | 'ifinfomsg+IFLA';
interface AttributeSpace {
  [type: number]: readonly [name: string, payload: Payload];
}

/** The one table that names attribute types. Only the ones this file sends or reads; the
 *  kernel answers with many more, shown by number. */
const VETH_INFO: AttributeSpace = { [VETH_INFO_PEER]: ['VETH_INFO_PEER', 'ifinfomsg+IFLA'] };
const IFLA_INFO: AttributeSpace = {
  [IFLA_INFO_KIND]: ['IFLA_INFO_KIND', 'string'],
  // What IFLA_INFO_DATA holds depends on the kind named before it.
  [IFLA_INFO_DATA]: ['IFLA_INFO_DATA', { dataOfKind: { veth: VETH_INFO } }],
};
const IFLA: AttributeSpace = {
  [IFLA_IFNAME]: ['IFLA_IFNAME', 'string'],
  [IFLA_MASTER]: ['IFLA_MASTER', 'u32'],
  [IFLA_LINKINFO]: ['IFLA_LINKINFO', { nested: IFLA_INFO }],
  [IFLA_NET_NS_FD]: ['IFLA_NET_NS_FD', 'u32'],
};
const IFA: AttributeSpace = {
  [IFA_ADDRESS]: ['IFA_ADDRESS', 'ipv4'],
  [IFA_LOCAL]: ['IFA_LOCAL', 'ipv4'],
  [IFA_BROADCAST]: ['IFA_BROADCAST', 'ipv4'],
};
const RTA: AttributeSpace = { [RTA_GATEWAY]: ['RTA_GATEWAY', 'ipv4'] };

/** Each message type we send or read: its name, its fixed header and its attributes. */
const MESSAGES: Record<number, { name: string; header: 'ifinfomsg' | 'ifaddrmsg' | 'rtmsg'; attributes: AttributeSpace }> = {
  [RTM_NEWLINK]: { name: 'RTM_NEWLINK', header: 'ifinfomsg', attributes: IFLA },
  [RTM_DELLINK]: { name: 'RTM_DELLINK', header: 'ifinfomsg', attributes: IFLA },
  [RTM_GETLINK]: { name: 'RTM_GETLINK', header: 'ifinfomsg', attributes: IFLA },
  [RTM_SETLINK]: { name: 'RTM_SETLINK', header: 'ifinfomsg', attributes: IFLA },
  [RTM_NEWADDR]: { name: 'RTM_NEWADDR', header: 'ifaddrmsg', attributes: IFA },
  [RTM_NEWROUTE]: { name: 'RTM_NEWROUTE', header: 'rtmsg', attributes: RTA },
};

// ---- building a message ----------------------------------------------------------------

/** Attributes and messages start on 4-byte boundaries (NLA_ALIGN, NLMSG_ALIGN). */
function align(length: number): number {
  return (length + 3) & ~3;
}

/** One attribute: rta_len (header and payload, never the padding), rta_type, the payload,
 *  zeros up to the next boundary. */
function rtattr(type: number, payload: Buffer): Buffer {
  const attribute = Buffer.alloc(align(4 + payload.length));
  attribute.writeUInt16LE(4 + payload.length, 0);
  attribute.writeUInt16LE(type, 2);
  payload.copy(attribute, 4);
  return attribute;
}

/** An attribute whose payload is other attributes (or, for VETH_INFO_PEER, a header first). */
function nested(type: number, ...parts: Buffer[]): Buffer {
  return rtattr(type | NLA_F_NESTED, Buffer.concat(parts));
}

/** A C string: the kernel accepts names with their NUL, as iproute2 sends them. */
const stringAttr = (type: number, text: string) => rtattr(type, Buffer.from(`${text}\0`));

function u32Attr(type: number, value: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32LE(value, 0);
  return rtattr(type, payload);
}

/** struct ifinfomsg (16 bytes): which link (0 = by IFLA_IFNAME, or a new one), and which of
 *  its IFF_* flags to change (ifi_change) to what (ifi_flags). */
function ifinfomsg(fields: { index?: number; flags?: number; change?: number } = {}): Buffer {
  const header = Buffer.alloc(16);
  header.writeUInt8(AF_UNSPEC, 0); // ifi_family; byte 1 is padding, bytes 2-3 ifi_type (ARPHRD_*), only in answers
  header.writeInt32LE(fields.index ?? 0, 4);
  header.writeUInt32LE(fields.flags ?? 0, 8);
  header.writeUInt32LE(fields.change ?? 0, 12);
  return header;
}

/** struct ifaddrmsg (8 bytes): the family, the prefix length, and the link the address is on. */
function ifaddrmsg(prefixLength: number, index: number): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt8(AF_INET, 0);
  header.writeUInt8(prefixLength, 1);
  header.writeUInt8(0, 2); // ifa_flags: IFA_F_* (none: a permanent address)
  header.writeUInt8(RT_SCOPE_UNIVERSE, 3); // ifa_scope: reachable from anywhere, not host- or link-local
  header.writeUInt32LE(index, 4);
  return header;
}

/** struct rtmsg (12 bytes) for a default route: destination 0.0.0.0/0 (rtm_dst_len 0, no RTA_DST). */
function rtmsgDefaultRoute(): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt8(AF_INET, 0);
  // bytes 1-3: rtm_dst_len 0 (matches every destination), rtm_src_len 0, rtm_tos 0
  header.writeUInt8(RT_TABLE_MAIN, 4); // the table `ip route` shows
  header.writeUInt8(RTPROT_BOOT, 5);
  header.writeUInt8(RT_SCOPE_UNIVERSE, 6); // the destination is beyond this link: via a gateway
  header.writeUInt8(RTN_UNICAST, 7);
  return header; // bytes 8-11: rtm_flags 0
}

/** The nlmsghdr in front of the rest. nlmsg_pid stays 0: the kernel knows which socket wrote. */
function nlmsg(type: number, flags: number, seq: number, fixed: Buffer, attributes: Buffer[]): Buffer {
  const body = Buffer.concat([fixed, ...attributes]);
  const header = Buffer.alloc(NLMSG_HDRLEN);
  header.writeUInt32LE(NLMSG_HDRLEN + body.length, 0);
  header.writeUInt16LE(type, 4);
  header.writeUInt16LE(flags, 6);
  header.writeUInt32LE(seq, 8);
  return Buffer.concat([header, body]);
}

function ipv4Bytes(address: string): Buffer {
  if (!isIPv4(address)) throw new UserError(`not an IPv4 address: ${JSON.stringify(address)}`);
  return Buffer.from(address.split('.').map(Number)); // network order: most significant byte first
}

// ---- one request, its answers ----------------------------------------------------------

/** Sequence numbers only have to differ between the requests on one socket. */
let lastSequence = 0;

interface Request {
  type: number;
  flags: number; // beyond NLM_F_REQUEST|NLM_F_ACK, which every request gets
  fixed: Buffer;
  attributes: Buffer[];
  /** For errors: `"nutshell0" bridge`, so that they read RTM_NEWLINK("nutshell0" bridge): … */
  target: string;
  /** Advice per errno name, where we know the likely cause. */
  hints?: Record<string, string>;
}

/** One parsed message of an answer: its header fields and what follows the header. */
interface Message {
  type: number;
  flags: number;
  seq: number;
  body: Buffer;
}

/** Send one request and read until the kernel's last word on it: the ack (or a refusal) for a
 *  plain request, NLMSG_DONE for a dump. Returns the messages before it (the links a GETLINK
 *  found). A refusal throws a SyscallError named after the request. */
function request(fd: number, req: Request, why: string): Message[] {
  const seq = ++lastSequence;
  const bytes = nlmsg(req.type, NLM_F_REQUEST | NLM_F_ACK | req.flags, seq, req.fixed, req.attributes);
  const kernel = sockaddrNl();
  const name = MESSAGES[req.type]!.name;
  sys('sendto', [], why, () => Number(sendto_(fd, bytes, bytes.length, 0, kernel, kernel.length)), {
    // The whole message decoded from its bytes, for --trace; errors only need its name.
    target: `${fd}, ${traceEnabled() ? describeMessage(bytes) : name}, ${bytes.length}, 0, {nl_family=AF_NETLINK, nl_pid=0}, ${kernel.length}`,
  });

  const dump = (req.flags & NLM_F_DUMP) === NLM_F_DUMP;
  const found: Message[] = [];
  // A datagram holds one or more whole messages; a dump spans several datagrams. 64 KiB is
  // more than the kernel puts in one (it fills about a page, up to 32 KiB, per datagram).
  const buffer = Buffer.alloc(65536);
  for (;;) {
    const length = sys('recv', [], `the kernel's answer to ${name} seq ${seq}`, () => Number(recv_(fd, buffer, buffer.length, MSG_TRUNC)), {
      target: `${fd}, [${buffer.length} bytes], ${buffer.length}, MSG_TRUNC`,
    });
    // With MSG_TRUNC, recv returns the datagram's real length, even if it did not fit.
    if (length > buffer.length) throw new Error(`${name}: an answer of ${length} bytes did not fit in ${buffer.length}`);
    for (const message of splitMessages(buffer.subarray(0, length))) {
      // An answer to another request would mean we lost track of the conversation.
      if (message.seq !== seq) throw new Error(`${name}: answer with seq ${message.seq} while waiting for seq ${seq}`);
      if (message.type === NLMSG_NOOP) continue;
      if (message.type === NLMSG_ERROR || message.type === NLMSG_DONE) {
        // struct nlmsgerr starts with `int error`; NLMSG_DONE of a dump carries the same int.
        const error = message.body.readInt32LE(0);
        const said = kernelMessage(message);
        traceAnswer(message, why, said);
        if (error < 0) {
          const ours = req.hints?.[errnoName(-error)];
          const hint = said && ours ? `the kernel says "${said}"; ${ours}` : said ? `the kernel says "${said}"` : ours;
          throw new SyscallError(name, req.target, -error, hint);
        }
        if (message.type === NLMSG_DONE && (message.flags & NLM_F_DUMP_INTR) !== 0) {
          // The links changed while the kernel was listing them: the list may miss one.
          throw new Error(`${name}: the dump was interrupted by a change; try again`);
        }
        // A plain request ends at its ack; a dump at NLMSG_DONE (the kernel sends no ack after a dump).
        if (message.type === NLMSG_DONE || !dump) return found;
        continue;
      }
      traceAnswer(message, why);
      found.push(message);
    }
  }
}

/** The messages in one datagram: each says its own length, and the next starts aligned. */
function splitMessages(datagram: Buffer): Message[] {
  const messages: Message[] = [];
  for (let offset = 0; offset + NLMSG_HDRLEN <= datagram.length; ) {
    const length = datagram.readUInt32LE(offset);
    if (length < NLMSG_HDRLEN || offset + length > datagram.length) throw new Error(`netlink: a message of ${length} bytes at offset ${offset} of ${datagram.length}`);
    messages.push({
      type: datagram.readUInt16LE(offset + 4),
      flags: datagram.readUInt16LE(offset + 6),
      seq: datagram.readUInt32LE(offset + 8),
      // A copy: the next recv(2) reuses the buffer that the datagram is in.
      body: Buffer.from(datagram.subarray(offset + NLMSG_HDRLEN, offset + length)),
    });
    offset += align(length);
  }
  return messages;
}

/** Each attribute in a list: its type (without the flag bits) and its payload. */
function* attributesOf(list: Buffer): Generator<[type: number, payload: Buffer]> {
  for (let offset = 0; offset + 4 <= list.length; ) {
    const length = list.readUInt16LE(offset);
    if (length < 4 || offset + length > list.length) return; // a malformed tail: stop, as the kernel does
    const type = list.readUInt16LE(offset + 2);
    yield [type & NLA_TYPE_MASK, list.subarray(offset + 4, offset + length)];
    offset += align(length);
  }
}

/** The first attribute of a type in a list, if any. */
function findAttribute(list: Buffer, type: number): Buffer | undefined {
  for (const [t, payload] of attributesOf(list)) if (t === type) return payload;
  return undefined;
}

const cString = (payload: Buffer) => payload.toString('utf8').replace(/\0.*$/s, '');

/** The kernel's sentence in an extended ack (NLMSGERR_ATTR_MSG), if it wrote one. Its
 *  attributes follow struct nlmsgerr: the error, then our request's nlmsghdr (only that,
 *  because of NETLINK_CAP_ACK; without it, the whole request). */
function kernelMessage(message: Message): string | undefined {
  if (message.type !== NLMSG_ERROR || (message.flags & NLM_F_ERROR.NLM_F_ACK_TLVS) === 0) return undefined;
  const echoed = (message.flags & NLM_F_ERROR.NLM_F_CAPPED) !== 0 ? NLMSG_HDRLEN : message.body.readUInt32LE(4);
  const said = findAttribute(message.body.subarray(4 + align(echoed)), NLMSGERR_ATTR_MSG);
  return said && cString(said);
}

// ---- links -----------------------------------------------------------------------------

export interface Ipv4Cidr {
  address: string;
  prefixLength: number;
}

export interface LinkInfo {
  index: number;
  name: string;
  kind?: string;
  master?: number;
  up: boolean;
}

const ENODEV_NAME = 'there is no link of that name in this network namespace';
const EPERM_ROOT = 'changing links takes CAP_NET_ADMIN: run as root';
const ERANGE_NAME = 'a link name has at most 15 bytes (IFNAMSIZ, 16 with its NUL)';

/** A link as an RTM_NEWLINK answer describes it: ifinfomsg, then IFLA_* attributes. */
function readLink(message: Message): LinkInfo {
  const body = message.body;
  const attributes = body.subarray(16);
  const name = findAttribute(attributes, IFLA_IFNAME);
  const linkinfo = findAttribute(attributes, IFLA_LINKINFO);
  const kind = linkinfo && findAttribute(linkinfo, IFLA_INFO_KIND);
  const master = findAttribute(attributes, IFLA_MASTER);
  return {
    index: body.readInt32LE(4),
    name: name ? cString(name) : '',
    ...(kind ? { kind: cString(kind) } : {}),
    ...(master ? { master: master.readUInt32LE(0) } : {}),
    up: (body.readUInt32LE(8) & IFF.IFF_UP) !== 0,
  };
}

/** The index of a link by name (RTM_GETLINK with IFLA_IFNAME), or undefined if there is none. */
export function linkIndex(fd: number, name: string): number | undefined {
  try {
    return requireLinkIndex(fd, name, `find the index of ${name}`);
  } catch (err) {
    if (err instanceof SyscallError && err.code === 'ENODEV') return undefined;
    throw err;
  }
}

/** Links are named in messages by index; addresses and masters need it. */
function requireLinkIndex(fd: number, name: string, why: string): number {
  const [answer] = request(fd, { type: RTM_GETLINK, flags: 0, fixed: ifinfomsg(), attributes: [stringAttr(IFLA_IFNAME, name)], target: JSON.stringify(name), hints: { ENODEV: ENODEV_NAME } }, why);
  if (!answer || answer.type !== RTM_NEWLINK) throw new Error(`RTM_GETLINK(${JSON.stringify(name)}): no link in the answer`);
  return readLink(answer).index;
}

/** A bridge: a virtual switch. The host ends of the containers' veth pairs plug into it, and
 *  its own address is the containers' gateway. */
export function createBridge(fd: number, name: string, why: string): 'created' | 'exists' {
  try {
    request(fd, {
      type: RTM_NEWLINK,
      flags: NLM_F_CREATE | NLM_F_EXCL, // EXCL: tell us if it is there, rather than silently reuse it
      fixed: ifinfomsg(),
      attributes: [stringAttr(IFLA_IFNAME, name), nested(IFLA_LINKINFO, stringAttr(IFLA_INFO_KIND, 'bridge'))],
      target: `${JSON.stringify(name)} bridge`,
      hints: { EPERM: EPERM_ROOT, ERANGE: ERANGE_NAME, EOPNOTSUPP: 'this kernel has no bridge driver (modprobe bridge)' },
    }, why);
    return 'created';
  } catch (err) {
    if (err instanceof SyscallError && err.code === 'EEXIST') return 'exists';
    throw err;
  }
}

/** A veth pair: two links joined back to back, whatever enters one leaves the other. The host
 *  end is named hostName here; the peer is created directly in the network namespace that
 *  peerNetnsFd (an open /proc/PID/ns/net) refers to, named peerName there. */
export function createVethPair(fd: number, hostName: string, peerName: string, peerNetnsFd: number, why: string): void {
  // The peer is described like a link of its own: an ifinfomsg and its IFLA_* attributes,
  // inside VETH_INFO_PEER, inside IFLA_INFO_DATA, inside IFLA_LINKINFO.
  const peer = nested(VETH_INFO_PEER, ifinfomsg(), stringAttr(IFLA_IFNAME, peerName), u32Attr(IFLA_NET_NS_FD, peerNetnsFd));
  request(fd, {
    type: RTM_NEWLINK,
    flags: NLM_F_CREATE | NLM_F_EXCL,
    fixed: ifinfomsg(),
    attributes: [stringAttr(IFLA_IFNAME, hostName), nested(IFLA_LINKINFO, stringAttr(IFLA_INFO_KIND, 'veth'), nested(IFLA_INFO_DATA, peer))],
    target: `${JSON.stringify(hostName)} veth, peer ${JSON.stringify(peerName)} in netns fd ${peerNetnsFd}`,
    hints: {
      EPERM: EPERM_ROOT,
      ERANGE: ERANGE_NAME,
      EEXIST: `a link named ${JSON.stringify(hostName)} exists here, or ${JSON.stringify(peerName)} in the peer's namespace: a leftover veth? \`ip link del ${hostName}\``,
      EBADF: 'peerNetnsFd must be an open /proc/PID/ns/net',
      EINVAL: 'peerNetnsFd must be an open /proc/PID/ns/net',
    },
  }, why);
}

/** Plug a link into a bridge (IFLA_MASTER = the bridge's index): it becomes one of its ports. */
export function setMaster(fd: number, link: string, bridge: string, why: string): void {
  const bridgeIndex = requireLinkIndex(fd, bridge, `the index of ${bridge}, which IFLA_MASTER wants`);
  request(fd, {
    type: RTM_SETLINK,
    flags: 0,
    fixed: ifinfomsg(), // index 0: the kernel finds the link by IFLA_IFNAME
    attributes: [stringAttr(IFLA_IFNAME, link), u32Attr(IFLA_MASTER, bridgeIndex)],
    target: `${JSON.stringify(link)} master ${JSON.stringify(bridge)}`,
    hints: { EPERM: EPERM_ROOT, ENODEV: ENODEV_NAME },
  }, why);
}

/** `ip link set NAME up`: IFF_UP in ifi_flags, and in ifi_change so that only that flag moves. */
export function setLinkUp(fd: number, name: string, why: string): void {
  request(fd, {
    type: RTM_SETLINK,
    flags: 0,
    fixed: ifinfomsg({ flags: IFF.IFF_UP, change: IFF.IFF_UP }),
    attributes: [stringAttr(IFLA_IFNAME, name)],
    target: `${JSON.stringify(name)} up`,
    hints: { EPERM: EPERM_ROOT, ENODEV: ENODEV_NAME },
  }, why);
}

/** Delete a link. Deleting either end of a veth pair deletes both, wherever the other is. */
export function deleteLink(fd: number, name: string, why: string): boolean {
  try {
    request(fd, { type: RTM_DELLINK, flags: 0, fixed: ifinfomsg(), attributes: [stringAttr(IFLA_IFNAME, name)], target: JSON.stringify(name), hints: { EPERM: EPERM_ROOT } }, why);
    return true;
  } catch (err) {
    if (err instanceof SyscallError && err.code === 'ENODEV') return false;
    throw err;
  }
}

/** Every link of the socket's namespace: one RTM_GETLINK with NLM_F_DUMP, many answers. */
export function listLinks(fd: number): LinkInfo[] {
  const answers = request(fd, { type: RTM_GETLINK, flags: NLM_F_DUMP, fixed: ifinfomsg(), attributes: [], target: 'dump' }, 'list the links of this namespace');
  return answers.filter((message) => message.type === RTM_NEWLINK).map(readLink);
}

// ---- addresses and routes --------------------------------------------------------------

/** `ip addr add ADDRESS/PREFIX brd + dev NAME`. Adding the address also makes the kernel add
 *  the route to its subnet (the "connected" route), through this link. */
export function addAddress(fd: number, name: string, cidr: Ipv4Cidr, why: string): 'added' | 'exists' {
  const { address, prefixLength } = cidr;
  if (!Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > 32) throw new UserError(`not an IPv4 prefix length: ${prefixLength}`);
  const local = ipv4Bytes(address);
  const index = requireLinkIndex(fd, name, `the index of ${name}, which ifaddrmsg wants`);
  // IFA_LOCAL is our own address; IFA_ADDRESS is the other end's on a point-to-point link,
  // and on a broadcast link such as ours, the same address again.
  const attributes = [rtattr(IFA_LOCAL, local), rtattr(IFA_ADDRESS, local)];
  if (prefixLength <= 30) {
    // The subnet's broadcast address: every host bit set. (/31 and /32 have none.)
    const hostBits = prefixLength === 0 ? 0xffffffff : (1 << (32 - prefixLength)) - 1;
    const broadcast = Buffer.alloc(4);
    broadcast.writeUInt32BE((local.readUInt32BE(0) | hostBits) >>> 0, 0);
    attributes.push(rtattr(IFA_BROADCAST, broadcast));
  }
  try {
    request(fd, {
      type: RTM_NEWADDR,
      flags: NLM_F_CREATE | NLM_F_EXCL,
      fixed: ifaddrmsg(prefixLength, index),
      attributes,
      target: `${address}/${prefixLength} on ${JSON.stringify(name)}`,
      hints: { EPERM: EPERM_ROOT },
    }, why);
    return 'added';
  } catch (err) {
    if (err instanceof SyscallError && err.code === 'EEXIST') return 'exists';
    throw err;
  }
}

/** `ip route add default via GATEWAY`: the kernel finds the link itself, through the connected
 *  route of the gateway's subnet, so the address must be added and the link up first. */
export function addDefaultRoute(fd: number, gateway: string, why: string): void {
  request(fd, {
    type: RTM_NEWROUTE,
    flags: NLM_F_CREATE | NLM_F_EXCL,
    fixed: rtmsgDefaultRoute(),
    attributes: [rtattr(RTA_GATEWAY, ipv4Bytes(gateway))],
    target: `default via ${gateway}`,
    hints: {
      EPERM: EPERM_ROOT,
      ENETUNREACH: 'no up link has an address in the gateway\'s subnet: add the address and bring the link up first',
      EEXIST: 'this namespace has a default route already',
    },
  }, why);
}

// ---- --trace: messages decoded ---------------------------------------------------------

/** `RTM_NEWLINK NLM_F_REQUEST|… seq=3 {ifi_family=…} IFLA_IFNAME="nutshell0" IFLA_LINKINFO{…}` */
function describeMessage(bytes: Buffer): string {
  const [message] = splitMessages(bytes);
  if (!message) return `${bytes.length} bytes`;
  const known = MESSAGES[message.type];
  if (!known) return `type ${message.type} seq=${message.seq}`;
  const flagTable = { ...NLM_F, ...(message.type === RTM_GETLINK ? NLM_F_GET : NLM_F_NEW) };
  const fixedLength = { ifinfomsg: 16, ifaddrmsg: 8, rtmsg: 12 }[known.header];
  const fixed = describeFixed(known.header, message.body);
  const attributes = describeAttributes(message.body.subarray(fixedLength), known.attributes);
  return `${known.name} ${flagNames(message.flags, flagTable)} seq=${message.seq} ${fixed}${attributes ? ` ${attributes}` : ''}`;
}

/** The fixed header's fields by their C names. */
function describeFixed(header: 'ifinfomsg' | 'ifaddrmsg' | 'rtmsg', body: Buffer): string {
  const family = (value: number) => (value === AF_INET ? 'AF_INET' : value === AF_UNSPEC ? 'AF_UNSPEC' : String(value));
  if (header === 'ifinfomsg') {
    return `ifinfomsg{ifi_family=${family(body[0]!)} ifi_type=${body.readUInt16LE(2)} ifi_index=${body.readInt32LE(4)} ifi_flags=${flagNames(body.readUInt32LE(8), IFF)} ifi_change=${flagNames(body.readUInt32LE(12), IFF)}}`;
  }
  if (header === 'ifaddrmsg') {
    return `ifaddrmsg{ifa_family=${family(body[0]!)} ifa_prefixlen=${body[1]} ifa_flags=${body[2]} ifa_scope=${body[3] === RT_SCOPE_UNIVERSE ? 'RT_SCOPE_UNIVERSE' : body[3]} ifa_index=${body.readUInt32LE(4)}}`;
  }
  const named = (value: number, name: string, known: number) => (value === known ? name : String(value));
  return (
    `rtmsg{rtm_family=${family(body[0]!)} rtm_dst_len=${body[1]} rtm_src_len=${body[2]} rtm_tos=${body[3]} ` +
    `rtm_table=${named(body[4]!, 'RT_TABLE_MAIN', RT_TABLE_MAIN)} rtm_protocol=${named(body[5]!, 'RTPROT_BOOT', RTPROT_BOOT)} ` +
    `rtm_scope=${named(body[6]!, 'RT_SCOPE_UNIVERSE', RT_SCOPE_UNIVERSE)} rtm_type=${named(body[7]!, 'RTN_UNICAST', RTN_UNICAST)} rtm_flags=${body.readUInt32LE(8)}}`
  );
}

/** `IFLA_IFNAME="eth0" IFLA_LINKINFO{IFLA_INFO_KIND="veth" IFLA_INFO_DATA{…}}`, by the table above. */
function describeAttributes(list: Buffer, space: AttributeSpace): string {
  const parts: string[] = [];
  let kind = ''; // IFLA_INFO_KIND, which says what IFLA_INFO_DATA holds
  for (const [type, payload] of attributesOf(list)) {
    const entry = space[type];
    if (!entry) {
      parts.push(`type${type}[${payload.length} bytes]`);
      continue;
    }
    const [name, shape] = entry;
    if (shape === 'string') {
      parts.push(`${name}=${JSON.stringify(cString(payload))}`);
      if (type === IFLA_INFO_KIND) kind = cString(payload);
    } else if (shape === 'u32') parts.push(`${name}=${payload.readUInt32LE(0)}`);
    else if (shape === 'ipv4') parts.push(`${name}=${[...payload].join('.')}`);
    else if (shape === 'ifinfomsg+IFLA') parts.push(`${name}{${describeFixed('ifinfomsg', payload)} ${describeAttributes(payload.subarray(16), IFLA)}}`);
    else if ('nested' in shape) parts.push(`${name}{${describeAttributes(payload, shape.nested)}}`);
    else {
      const inner = shape.dataOfKind[kind];
      parts.push(inner ? `${name}{${describeAttributes(payload, inner)}}` : `${name}[${payload.length} bytes]`);
    }
  }
  return parts.join(' ');
}

/** One line per answer: the ack, the errno, the end of a dump, or the link a GETLINK found. */
function traceAnswer(message: Message, why: string, said?: string): void {
  if (!traceEnabled()) return;
  let text: string;
  if (message.type === NLMSG_ERROR || message.type === NLMSG_DONE) {
    const error = message.body.readInt32LE(0);
    const kind = message.type === NLMSG_ERROR ? 'NLMSG_ERROR' : 'NLMSG_DONE';
    const outcome = error === 0 ? (message.type === NLMSG_ERROR ? 'error=0 (ack)' : 'error=0 (end of dump)') : `error=-${errnoName(-error)}`;
    text = `${kind} seq=${message.seq} ${outcome}${said ? ` "${said}"` : ''}`;
  } else if (message.type === RTM_NEWLINK) {
    const link = readLink(message);
    const multi = (message.flags & NLM_F_MULTI) !== 0 ? ' NLM_F_MULTI' : '';
    text = `RTM_NEWLINK${multi} seq=${message.seq} link ${link.index} ${JSON.stringify(link.name)}${link.kind ? ` kind=${link.kind}` : ''}${link.master ? ` master=${link.master}` : ''}${link.up ? ' up' : ' down'}`;
  } else {
    text = `type ${message.type} seq=${message.seq} [${message.body.length} bytes]`;
  }
  traceStep(`  ← ${text}`, why);
}
