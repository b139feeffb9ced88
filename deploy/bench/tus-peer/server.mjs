// The peer for `just bench upload`: @tus/server with @tus/file-store (their documented setup),
// on 127.0.0.1 and a free port, storing into the directory given as the first argument.
// Prints `listening on http://127.0.0.1:<port>/files/` once it accepts connections.
import { Server } from '@tus/server'
import { FileStore } from '@tus/file-store'

const dir = process.argv[2]
if (!dir) {
  console.error('usage: node server.mjs <directory>')
  process.exit(2)
}
const server = new Server({ path: '/files', datastore: new FileStore({ directory: dir }) })
const http = server.listen({ host: '127.0.0.1', port: 0 }, () => {
  const { port } = http.address()
  console.log(`listening on http://127.0.0.1:${port}/files/`)
})
process.on('SIGTERM', () => http.close(() => process.exit(0)))
