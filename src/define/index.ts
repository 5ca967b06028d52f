export * from './context';
export * from './permissions';
export * from './resource';
export * from './app';
