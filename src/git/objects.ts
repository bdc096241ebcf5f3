import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { deflateSync } from 'node:zlib'
import { RepositoryError, TreePathConflict } from './errors.js'
import { allSettledOrThrow } from './settle.js'
import { GitCommandError, gitInvocation, type GitIdentity } from './open.js'

/**
 * Git objects without a git process each: one `git cat-file --batch` answers every read of an
 * operation, and the objects of a commit (blobs, trees, the commit) are hashed and written as
 * loose objects here, in the format git reads (`<type> <size>\0<body>`, zlib-compressed, named
 * by its hash), into the commit's quarantine object store.
 */

export interface GitObject {
  oid: string
  type: string
  body: Buffer
}

export type HashAlgorithm = 'sha1' | 'sha256'

/** The hash algorithm a repository's object ids tell: 40 hex digits for SHA-1, 64 for SHA-256. */
export function algorithmOf(oid: string): HashAlgorithm {
  return oid.length === 64 ? 'sha256' : 'sha1'
}

/** The id git gives an object of this type and body. */
export function objectId(type: string, body: Buffer, algorithm: HashAlgorithm): string {
  return createHash(algorithm).update(`${type} ${body.length}\0`).update(body).digest('hex')
}

/** Writes one loose object below `objects` (a quarantine: nothing else writes there) and returns its id. */
export async function writeLooseObject(objects: string, type: string, body: Buffer, algorithm: HashAlgorithm): Promise<string> {
  const oid = objectId(type, body, algorithm)
  const dir = path.join(objects, oid.slice(0, 2))
  await mkdir(dir, { recursive: true })
  // level 1 is git's own default for loose objects (core.looseCompression)
  const data = deflateSync(Buffer.concat([Buffer.from(`${type} ${body.length}\0`), body]), { level: 1 })
  await writeFile(path.join(dir, oid.slice(2)), data, { flag: 'wx', mode: 0o444 }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err // the same object twice in one commit: one copy is enough
  })
  return oid
}

/**
 * One `git cat-file --batch` for the reads of one operation: each read writes a name (an object
 * id, or `refs/heads/<branch>^{commit}`) and gets the object, or null when there is none. Reads
 * are answered in order. close() ends the process; it is also ended when the service dies (its
 * input closes).
 */
export class ObjectReader {
  private readonly pending: Array<{ resolve: (object: GitObject | null) => void; reject: (err: Error) => void }> = []
  private buffered: Buffer = Buffer.alloc(0)
  private stderr = ''
  private failure: Error | undefined
  private readonly exited: Promise<void>
  private readonly child

  constructor(repoPath: string, identity: GitIdentity, extraEnv: Record<string, string> = {}) {
    const { args, env } = gitInvocation(identity, extraEnv)
    const command = [...args, 'cat-file', '--batch']
    this.child = spawn('git', command, { cwd: repoPath, env, stdio: ['pipe', 'pipe', 'pipe'] })
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 60_000)
    this.child.stdout.on('data', (chunk: Buffer) => this.receive(chunk))
    this.child.stderr.on('data', (chunk: Buffer) => (this.stderr += chunk.toString('utf8')))
    this.child.stdin.on('error', () => undefined) // the process ended early: reported by 'close'
    this.exited = new Promise((resolve) => {
      this.child.on('error', (err) => {
        clearTimeout(timer)
        this.fail(err)
        resolve()
      })
      this.child.on('close', (code) => {
        clearTimeout(timer)
        this.fail(new GitCommandError(['cat-file', '--batch'], code, this.stderr, ''))
        resolve()
      })
    })
  }

  read(name: string): Promise<GitObject | null> {
    if (/[\n\0]/.test(name)) return Promise.reject(new RepositoryError(`not an object name: ${JSON.stringify(name)}`))
    if (this.failure) return Promise.reject(this.failure)
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject })
      this.child.stdin.write(`${name}\n`)
    })
  }

  /** Ends the process and waits for it; again, it only waits. */
  async close(): Promise<void> {
    if (!this.child.stdin.writableEnded) this.child.stdin.end()
    await this.exited
  }

  private fail(err: Error): void {
    this.failure ??= err
    for (const waiting of this.pending.splice(0)) waiting.reject(this.failure)
  }

  private receive(chunk: Buffer): void {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk])
    for (;;) {
      const eol = this.buffered.indexOf(0x0a)
      if (eol < 0) return
      const header = this.buffered.subarray(0, eol).toString('utf8')
      // "<name> missing" (or "ambiguous"): no such object
      const [oid, type, size] = header.split(' ')
      if (size === undefined) {
        this.buffered = this.buffered.subarray(eol + 1)
        this.pending.shift()?.resolve(null)
        continue
      }
      const length = Number(size)
      if (this.buffered.length < eol + 1 + length + 1) return // the body is still coming
      const body = Buffer.from(this.buffered.subarray(eol + 1, eol + 1 + length))
      this.buffered = this.buffered.subarray(eol + 1 + length + 1)
      this.pending.shift()?.resolve({ oid: oid ?? '', type: type ?? '', body })
    }
  }
}

/** One entry of a tree object. The name is kept as bytes (latin1 string: one char a byte), as git stores it. */
export interface TreeEntry {
  mode: string
  name: string
  oid: string
}

const isTreeMode = (mode: string) => (parseInt(mode, 8) & 0o170000) === 0o040000

export function parseTree(body: Buffer, algorithm: HashAlgorithm): TreeEntry[] {
  const oidBytes = algorithm === 'sha256' ? 32 : 20
  const entries: TreeEntry[] = []
  let at = 0
  while (at < body.length) {
    const space = body.indexOf(0x20, at)
    const nul = body.indexOf(0x00, space)
    if (space < 0 || nul < 0 || nul + 1 + oidBytes > body.length) throw new RepositoryError('a tree object in the repository is damaged')
    entries.push({
      mode: body.subarray(at, space).toString('latin1'),
      name: body.subarray(space + 1, nul).toString('latin1'),
      oid: body.subarray(nul + 1, nul + 1 + oidBytes).toString('hex'),
    })
    at = nul + 1 + oidBytes
  }
  return entries
}

/** A tree object's body, its entries in git's order (a folder sorts as if its name ended in "/"). */
export function serializeTree(entries: TreeEntry[]): Buffer {
  const key = (e: TreeEntry) => Buffer.from(isTreeMode(e.mode) ? `${e.name}/` : e.name, 'latin1')
  const sorted = [...entries].sort((a, b) => Buffer.compare(key(a), key(b)))
  return Buffer.concat(sorted.flatMap((e) => [Buffer.from(`${e.mode} ${e.name}\0`, 'latin1'), Buffer.from(e.oid, 'hex')]))
}

/** Reads trees through one ObjectReader, each at most once per operation. */
export class TreeReader {
  private readonly trees = new Map<string, Promise<TreeEntry[]>>()
  constructor(
    private readonly reader: ObjectReader,
    readonly algorithm: HashAlgorithm,
  ) {}

  entries(oid: string): Promise<TreeEntry[]> {
    let found = this.trees.get(oid)
    if (!found) {
      found = this.reader.read(oid).then((object) => {
        if (object?.type !== 'tree') throw new RepositoryError(`the tree ${oid} is missing from the repository`)
        return parseTree(object.body, this.algorithm)
      })
      this.trees.set(oid, found)
    }
    return found
  }

  /** What the tree `root` holds at `file` (a path with "/"), as `git ls-tree <root> -- <file>` shows it; null when nothing. */
  async at(root: string, file: string): Promise<{ mode: string; oid: string } | null> {
    const parts = latin1Parts(file)
    let tree = root
    for (const [i, part] of parts.entries()) {
      const entry = (await this.entries(tree)).find((e) => e.name === part)
      if (!entry) return null
      if (i === parts.length - 1) return { mode: entry.mode, oid: entry.oid }
      if (!isTreeMode(entry.mode)) return null
      tree = entry.oid
    }
    return null
  }
}

/** The path's components as tree-entry names (UTF-8 bytes, one latin1 char each). */
function latin1Parts(file: string): string[] {
  return file.split('/').map((part) => Buffer.from(part, 'utf8').toString('latin1'))
}

/**
 * A path the commit may hold: relative, "/"-separated, no empty, "." or ".." component and no
 * ".git" (the paths `git update-index` refuses too).
 */
function checkPath(file: string): void {
  const bad = file.split('/').some((part) => part === '' || part === '.' || part === '..' || part.toLowerCase() === '.git' || part.includes('\0') || part.includes('\\'))
  if (bad) throw new RepositoryError(`not a path a commit can hold: ${JSON.stringify(file)}`)
}

/**
 * The tree `root` (null: an empty one) with each of `files` set to a regular file (100644) holding
 * its blob. Only the trees along the changed paths are read and written; `write` stores each new
 * tree. A path that needs a file where the tree holds a folder, or a folder where it holds
 * something else, is refused as `git update-index` would.
 */
export async function editTree(
  trees: TreeReader,
  root: string | null,
  files: Array<{ path: string; blob: string }>,
  write: (type: string, body: Buffer) => Promise<string>,
): Promise<string> {
  interface Node {
    files: Map<string, string>
    dirs: Map<string, Node>
  }
  const top: Node = { files: new Map(), dirs: new Map() }
  for (const file of files) {
    checkPath(file.path)
    const parts = latin1Parts(file.path)
    let node = top
    for (const part of parts.slice(0, -1)) {
      let next = node.dirs.get(part)
      if (!next) node.dirs.set(part, (next = { files: new Map(), dirs: new Map() }))
      node = next
    }
    node.files.set(parts[parts.length - 1] as string, file.blob)
  }
  const conflict = (where: string) => new TreePathConflict(Buffer.from(where, 'latin1').toString('utf8'))
  const build = async (tree: string | null, node: Node, where: string): Promise<string> => {
    const entries = new Map((tree ? await trees.entries(tree) : []).map((e) => [e.name, e]))
    for (const [name, blob] of node.files) {
      if (node.dirs.has(name) || (entries.has(name) && isTreeMode(entries.get(name)?.mode ?? ''))) throw conflict(`${where}${name}`)
      entries.set(name, { mode: '100644', name, oid: blob })
    }
    const subtrees = [...node.dirs].map(async ([name, child]) => {
      const old = entries.get(name)
      if (old && !isTreeMode(old.mode)) throw conflict(`${where}${name}`)
      return { mode: '40000', name, oid: await build(old?.oid ?? null, child, `${where}${name}/`) }
    })
    for (const entry of await allSettledOrThrow(subtrees)) entries.set(entry.name, entry)
    return write('tree', serializeTree([...entries.values()]))
  }
  return build(root, top, '')
}

/** The root tree a commit object names. */
export function commitTree(body: Buffer): string {
  const match = /^tree ([0-9a-f]+)\n/.exec(body.subarray(0, 80).toString('latin1'))
  if (!match?.[1]) throw new RepositoryError('a commit object in the repository is damaged')
  return match[1]
}

/**
 * Whether git writes this identity into a commit as it is. git trims "crud" from both ends of a
 * name and an email and drops "<", ">" and newlines, and which characters count as crud has
 * changed between git versions ("." no longer does). An identity with none of them, at either
 * end or (for those three) anywhere, is written the same by every version; commitObject takes only those.
 */
export function identityIsPlain(identity: GitIdentity): boolean {
  const crud = (c: string) => c.charCodeAt(0) <= 32 || '.,:;<>"\\\''.includes(c)
  const plain = (text: string) =>
    text.length > 0 && !crud(text[0] as string) && !crud(text[text.length - 1] as string) && ![...text].some((c) => c.charCodeAt(0) < 32 || c === '<' || c === '>')
  return plain(identity.name) && plain(identity.email)
}

/** `git commit-tree <tree> -p <parent>`'s object: the identity as author and committer, at `date`, in the local time zone. */
export function commitObject(options: { tree: string; parent: string; identity: GitIdentity; date: Date; message: Buffer; encoding?: string | undefined }): Buffer {
  if (!identityIsPlain(options.identity)) throw new RepositoryError('the identity needs git to write it: use git commit-tree')
  const { name, email } = options.identity
  const offset = -options.date.getTimezoneOffset()
  const zone = `${offset < 0 ? '-' : '+'}${String(Math.floor(Math.abs(offset) / 60)).padStart(2, '0')}${String(Math.abs(offset) % 60).padStart(2, '0')}`
  const ident = `${name} <${email}> ${Math.floor(options.date.getTime() / 1000)} ${zone}`
  // git names the encoding only when i18n.commitEncoding says it is not UTF-8
  const encoding = options.encoding && !/^utf-?8$/i.test(options.encoding) ? `encoding ${options.encoding}\n` : ''
  const header = `tree ${options.tree}\nparent ${options.parent}\nauthor ${ident}\ncommitter ${ident}\n${encoding}\n`
  return Buffer.concat([Buffer.from(header, 'utf8'), options.message])
}
