import { createServer, type AddressInfo, type Socket } from 'node:net'

/**
 * A minimal SMTP server: enough of RFC 5321 for nodemailer (n8n's Send Email node) with
 * `secure:false, disableStartTls:true` and no auth. It advertises no extensions it lacks, so
 * nodemailer never tries STARTTLS or AUTH. Each mail is recorded with its envelope and its
 * decoded text, so the check can see who got what.
 */

export interface ReceivedMail {
  /** envelope sender and recipients, without the angle brackets */
  from: string
  to: string[]
  subject: string
  /** the text body, transfer-decoded, with \n line ends */
  text: string
  raw: string
}

const address = (arg: string) => arg.replace(/^[^:]*:\s*/, '').replace(/^<|>.*$/g, '').trim()

function decodeQuotedPrintable(body: string): string {
  const bytes = Buffer.from(body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1')
  return bytes.toString('utf8')
}

/** RFC 2047 encoded words (=?UTF-8?Q?…?= / =?UTF-8?B?…?=), as nodemailer writes non-ASCII subjects. */
function decodeHeader(value: string): string {
  return value.replace(/=\?([^?]+)\?([QqBb])\?([^?]*)\?=\s*/g, (_, _charset: string, encoding: string, text: string) =>
    encoding.toUpperCase() === 'B' ? Buffer.from(text, 'base64').toString('utf8') : decodeQuotedPrintable(text.replaceAll('_', ' ')),
  )
}

/** Headers (unfolded) and the text body of a single-part mail, which is what n8n sends for emailFormat "text". */
function parseMail(raw: string): { headers: Map<string, string>; text: string } {
  const split = raw.indexOf('\r\n\r\n')
  const head = split < 0 ? raw : raw.slice(0, split)
  const body = split < 0 ? '' : raw.slice(split + 4)
  const headers = new Map<string, string>()
  for (const line of head.replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    const colon = line.indexOf(':')
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim())
  }
  const encoding = (headers.get('content-transfer-encoding') ?? '7bit').toLowerCase()
  const decoded = encoding === 'quoted-printable' ? decodeQuotedPrintable(body) : encoding === 'base64' ? Buffer.from(body, 'base64').toString('utf8') : body
  return { headers, text: decoded.replace(/\r\n/g, '\n') }
}

export interface SmtpStub {
  port: number
  mails: ReceivedMail[]
  close(): Promise<void>
}

function session(socket: Socket, mails: ReceivedMail[]): void {
  let buffer = ''
  let inData = false
  let envelope = { from: '', to: [] as string[] }
  const reply = (line: string) => socket.write(`${line}\r\n`)
  reply('220 check-n8n SMTP stub')
  socket.on('error', () => undefined) // nodemailer may drop the connection after QUIT
  socket.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('latin1')
    for (;;) {
      if (inData) {
        const end = buffer.indexOf('\r\n.\r\n')
        if (end < 0) return
        // undo dot-stuffing (RFC 5321 4.5.2), then decode as UTF-8
        const raw = Buffer.from(buffer.slice(0, end).replace(/^\.\./gm, '.'), 'latin1').toString('utf8')
        buffer = buffer.slice(end + 5)
        inData = false
        const { headers, text } = parseMail(raw)
        mails.push({ ...envelope, subject: decodeHeader(headers.get('subject') ?? ''), text, raw })
        envelope = { from: '', to: [] }
        reply('250 OK queued')
        continue
      }
      const newline = buffer.indexOf('\r\n')
      if (newline < 0) return
      const line = buffer.slice(0, newline)
      buffer = buffer.slice(newline + 2)
      const verb = line.slice(0, 4).toUpperCase()
      if (verb === 'EHLO') {
        reply('250-localhost')
        reply('250 8BITMIME')
      } else if (verb === 'HELO') reply('250 localhost')
      else if (verb === 'MAIL') {
        envelope.from = address(line)
        reply('250 OK')
      } else if (verb === 'RCPT') {
        envelope.to.push(address(line))
        reply('250 OK')
      } else if (verb === 'DATA') {
        inData = true
        reply('354 End data with <CR><LF>.<CR><LF>')
      } else if (verb === 'RSET') {
        envelope = { from: '', to: [] }
        reply('250 OK')
      } else if (verb === 'NOOP') reply('250 OK')
      else if (verb === 'QUIT') {
        reply('221 Bye')
        socket.end()
      } else reply('502 Command not implemented')
    }
  })
}

export function startSmtpStub(): Promise<SmtpStub> {
  const mails: ReceivedMail[] = []
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    session(socket, mails)
  })
  return new Promise((resolve, reject) => {
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: (server.address() as AddressInfo).port,
        mails,
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy()
            server.close(() => done())
          }),
      })
    })
  })
}
