/** The parts of `git status --porcelain=v1 -z` a preview reports. */
export interface WorkTreeStatus {
  staged: string[]
  unstaged: string[]
  untracked: string[]
}

/** Parses NUL-separated porcelain v1 (rename entries carry their source path as an extra field). */
export function parsePorcelain(output: string): WorkTreeStatus {
  const status: WorkTreeStatus = { staged: [], unstaged: [], untracked: [] }
  const fields = output.split('\0')
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i]
    if (!field || field.length < 4) continue
    const x = field[0]
    const y = field[1]
    const path = field.slice(3)
    if (x === '?' && y === '?') {
      status.untracked.push(path)
      continue
    }
    if (x === '!') continue
    if (x && x !== ' ') status.staged.push(path)
    if (y && y !== ' ') status.unstaged.push(path)
    if (x === 'R' || x === 'C') i++ // skip the rename/copy source
  }
  return status
}
