/** @type {import('jest').Config} */
const common = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
};

module.exports = {
  maxWorkers: 2,
  testTimeout: 30000,
  projects: [
    // Everything, live suites with ORM capture (the default).
    { ...common, displayName: 'orm', testMatch: ['**/*.test.ts'] },
    // The live suites again with database capture: the same writes must give the same events.
    {
      ...common,
      displayName: 'database',
      testMatch: ['<rootDir>/test/live/**/*.test.ts', '<rootDir>/test/capture/transactions.test.ts'],
      setupFiles: ['<rootDir>/test/support/database-capture.ts'],
    },
  ],
};
