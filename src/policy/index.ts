export * from './where';
export * from './evaluate';
