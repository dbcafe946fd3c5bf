package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/zitadel/oidc/v3/example/server/storage"
	"golang.org/x/text/language"
)

// user is one account of the users file:
//
//	[{"id":"u1","username":"alice","password":"…","email":"alice@example.com",
//	  "claims":{"groups":["sidekey-org-admins"],"org":"acme"}}]
//
// claims are added to the user's ID tokens as they are.
type user struct {
	ID       string         `json:"id"`
	Username string         `json:"username"`
	Password string         `json:"password"`
	Email    string         `json:"email"`
	Claims   map[string]any `json:"claims"`
}

// userStore implements storage.UserStore over the users file.
type userStore struct {
	byID   map[string]*user
	byName map[string]*user
}

func loadUsers(path string) (*userStore, error) {
	if path == "" {
		return nil, errors.New("--users is required")
	}
	b, err := os.ReadFile(path) // #nosec G304 -- the operator's flag.
	if err != nil {
		return nil, fmt.Errorf("--users: %w", err)
	}
	var list []*user
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("--users: %w", err)
	}
	s := &userStore{byID: map[string]*user{}, byName: map[string]*user{}}
	for _, u := range list {
		if u.ID == "" || u.Username == "" || u.Password == "" {
			return nil, errors.New("--users: every user needs id, username and password")
		}
		s.byID[u.ID] = u
		s.byName[u.Username] = u
	}
	return s, nil
}

func (s *userStore) toStorage(u *user) *storage.User {
	if u == nil {
		return nil
	}
	return &storage.User{
		ID: u.ID, Username: u.Username, Password: u.Password, FirstName: u.Username,
		Email: u.Email, EmailVerified: u.Email != "", PreferredLanguage: language.English,
	}
}

func (s *userStore) GetUserByID(id string) *storage.User { return s.toStorage(s.byID[id]) }

func (s *userStore) GetUserByUsername(name string) *storage.User {
	return s.toStorage(s.byName[name])
}

func (s *userStore) ExampleClientID() string { return "" }
