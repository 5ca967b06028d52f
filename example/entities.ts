import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';

@Entity()
export class User {
  @PrimaryGeneratedColumn()
  id: number;

  @Column({ type: 'varchar', length: 50, unique: true })
  username: string;

  @Column({ type: 'varchar', length: 200 })
  email: string;

  /** A password hash (./passwords.ts); write-only in the schema. */
  @Column({ type: 'varchar', length: 100 })
  password: string;
}

@Entity()
export class TodoList {
  @PrimaryGeneratedColumn()
  id: number;

  @Column({ type: 'varchar', length: 100 })
  name: string;

  @Column({ type: 'boolean', default: false })
  private: boolean;

  @Index()
  @Column({ type: 'int' })
  ownerId: number;

  @ManyToOne(() => User, { onDelete: 'CASCADE', nullable: false })
  @JoinColumn({ name: 'ownerId' })
  owner: User;
}

@Entity()
export class Task {
  @PrimaryGeneratedColumn()
  id: number;

  @Column({ type: 'varchar', length: 500 })
  text: string;

  @Column({ type: 'boolean', default: false })
  done: boolean;

  @Index()
  @Column({ type: 'int' })
  listId: number;

  @ManyToOne(() => TodoList, { onDelete: 'CASCADE', nullable: false })
  @JoinColumn({ name: 'listId' })
  list: TodoList;
}

@Entity()
export class Post {
  @PrimaryGeneratedColumn()
  id: number;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;

  @Column({ type: 'text' })
  body: string;

  @Index()
  @Column({ type: 'int' })
  authorId: number;

  @ManyToOne(() => User, { onDelete: 'CASCADE', nullable: false })
  @JoinColumn({ name: 'authorId' })
  author: User;
}

export const demoEntities = [User, TodoList, Task, Post];
