// Starts the services integration tests need (real redis-server); filled in by the queue module.
export default async function setup(): Promise<void> {}
