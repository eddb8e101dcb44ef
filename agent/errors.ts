/** Errors the agent's entry raises at start, in a module light enough for the CLI to import eagerly. */
export class DockerUnreachableError extends Error {
  override name = 'DockerUnreachableError';
}
